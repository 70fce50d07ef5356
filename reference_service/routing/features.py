"""Text signals for the weighted router: each cheap to compute (a few regexes), each a
reason a query needs a stronger model (or does not)."""

from __future__ import annotations

import math
import re

_REASONING = re.compile(
    r"\b(design|plan|propose|architect\w*|model|estimate|calculate|derive|compare|evaluate|"
    r"analy[sz]\w*|optimi[sz]\w*|debug|diagnose|investigate|troubleshoot|review|justify|"
    r"rank|weigh|reason|prove|root-cause|assess\w*|break it down|walk me through|"
    r"work through|suggest|explain (how|why)|step[- ]by[- ]step|describe how|create)\b",
    re.I,
)
_OPEN_QUESTION = re.compile(
    r"^\s*(why|how (should|do|does|would|could|can|much|many)(?! i\b)|what (would|happens|limits|"
    r"is the (best|optimal))|should (we|i)|is the .* worth|if\b|given\b)",
    re.I,
)
_CODE = re.compile(
    r"\b(write|implement|translate this|script|function|module|verilog|"
    r"systemverilog|vhdl|assertion|loop|code examples?)\b",
    re.I,
)
_SYMPTOM = re.compile(
    r"\b(fail\w*|slow\w*|lower|drops?|errors?|throttl\w*|reboots?|disappear\w*|"
    r"randomly|stalls?|degrad\w*|instead of|not scale|worse|falls? off|"
    r"only \d+%|hurts?|bottleneck|starv\w*)\b",
    re.I,
)
_TRADEOFF = re.compile(
    r"trade-?offs?|worth it|best way|pros and cons|\bvs\.?\b|\brisks?\b|"
    r"cost-benefit|total cost|justify|defend",
    re.I,
)
_LOOKUP = re.compile(
    r"^\s*(what(?:'s| is| are| does)|define|spell|name|list|which|who|where|"
    r"when|is there|is it|is the|do you|can i|how (do i|long|tall)|"
    r"give me the|tell me|translate '|summari[sz]e|convert)\b",
    re.I,
)
_LOGISTICS = re.compile(
    r"\b(order|ship\w*|warranty|password|support hours|return policy|"
    r"discount|in stock|part number|lead time|ticket|email|cancel|rma|url|"
    r"download|prices?)\b",
    re.I,
)
_SMALLTALK = re.compile(
    r"^\s*(hi|hello|thanks|thank you|good (morning|afternoon|evening)|"
    r"can you repeat)\b",
    re.I,
)
_TECH = re.compile(
    r"\b(hbm\w*|ddr\d?|gddr\w*|pcie|nvlink|nvswitch|cxl|infiniband|roce|rdma|nvme|"
    r"h100|a100|fpga|serdes|pam4|ecc|numa|iommu|dram|sram|gpu|cpu|nic|ssd|"
    r"chiplets?|ucie|fp8|fp16|mesi|dimms?|eks|s3)\b",
    re.I,
)
_QUANT = re.compile(r"\d+(\.\d+)?\s*(%|gb|tb|mb|gt/s|gb/s|tb/s|w|mhz|ghz|c\b|b\b|k\b|x\d+)", re.I)

FEATURE_NAMES = (
    "bias",
    "log_words",
    "reasoning_verbs",
    "open_question",
    "code",
    "symptoms",
    "tradeoff",
    "lookup",
    "logistics",
    "smalltalk",
    "tech_entities",
    "quantities",
    "sentences",
)


def features(query: str) -> list[float]:
    """The feature vector of a query, in FEATURE_NAMES order."""
    words = len(query.split())
    tech = {m.group(1).lower() for m in _TECH.finditer(query)}
    sentences = len(re.findall(r"[.?!](\s|$)", query.strip())) or 1
    return [
        1.0,
        math.log1p(words) / 4.0,
        min(len(_REASONING.findall(query)), 2) / 2.0,
        1.0 if _OPEN_QUESTION.search(query) else 0.0,
        1.0 if _CODE.search(query) else 0.0,
        min(len(_SYMPTOM.findall(query)), 2) / 2.0,
        1.0 if _TRADEOFF.search(query) else 0.0,
        1.0 if _LOOKUP.search(query) else 0.0,
        1.0 if _LOGISTICS.search(query) else 0.0,
        1.0 if _SMALLTALK.search(query) else 0.0,
        min(len(tech), 3) / 3.0,
        min(len(_QUANT.findall(query)), 2) / 2.0,
        min(sentences, 3) / 3.0,
    ]
