"""Text normalization for the cache: one canonical form for the exact tier, and acronym
canonicalization so "Compute Express Link" and "CXL" embed (and compare) as the same thing.

The glossary is domain knowledge of the lab (hardware and cloud terms); an expansion is
replaced by its acronym wherever it appears, case-insensitively.
"""

from __future__ import annotations

import re
import unicodedata

GLOSSARY: dict[str, str] = {
    "cxl": "compute express link",
    "hbm": "high bandwidth memory",
    "ecc": "error correcting code",
    "pcie": "pci express",
    "nvme": "non-volatile memory express",
    "dram": "dynamic random access memory",
    "sram": "static random access memory",
    "ddr": "double data rate",
    "gpu": "graphics processing unit",
    "cpu": "central processing unit",
    "tdp": "thermal design power",
    "fpga": "field programmable gate array",
    "asic": "application specific integrated circuit",
    "rdma": "remote direct memory access",
    "roce": "rdma over converged ethernet",
    "nic": "network interface card",
    "ssd": "solid state drive",
    "hdd": "hard disk drive",
    "dimm": "dual inline memory module",
    "serdes": "serializer deserializer",
    "pam4": "pulse amplitude modulation 4",
    "nrz": "non return to zero",
    "numa": "non uniform memory access",
    "mig": "multi instance gpu",
    "bmc": "baseboard management controller",
    "bios": "basic input output system",
    "uefi": "unified extensible firmware interface",
    "psu": "power supply unit",
    "mtbf": "mean time between failures",
    "rma": "return merchandise authorization",
    "eks": "elastic kubernetes service",
    "s3": "simple storage service",
    "ec2": "elastic compute cloud",
    "tlb": "translation lookaside buffer",
    "iommu": "input output memory management unit",
    "sku": "stock keeping unit",
    "llm": "large language model",
    "tco": "total cost of ownership",
    "ucie": "universal chiplet interconnect express",
    "fec": "forward error correction",
    "mmu": "memory management unit",
    "os": "operating system",
}
# How an acronym is written when it replaces its expansion (default: upper case).
DISPLAY = {
    "pcie": "PCIe",
    "nvme": "NVMe",
    "serdes": "SerDes",
    "roce": "RoCE",
    "ucie": "UCIe",
    "mtbf": "MTBF",
    "os": "OS",
}
_EXPANSIONS = sorted(
    ((exp.replace("-", " "), acr) for acr, exp in GLOSSARY.items()), key=lambda x: -len(x[0])
)
_EXPANSION_RE = re.compile(
    r"\b(" + "|".join(re.escape(e).replace(r"\ ", r"[\s-]+") for e, _ in _EXPANSIONS) + r")\b",
    re.IGNORECASE,
)
_ACRONYM_OF = {e: a for e, a in _EXPANSIONS}
# "(CXL)" right after its expansion would become "CXL (CXL)"
_DOUBLED = re.compile(r"\b(\w+)\s*\(\s*\1\s*\)", re.IGNORECASE)


def _display(acronym: str) -> str:
    return DISPLAY.get(acronym, acronym.upper())


def canonical(text: str) -> str:
    """NFKC, single spaces, glossary expansions replaced by their acronyms (case kept)."""
    text = unicodedata.normalize("NFKC", text)
    text = _EXPANSION_RE.sub(
        lambda m: _display(_ACRONYM_OF[re.sub(r"[\s-]+", " ", m.group(0).lower())]), text
    )
    text = _DOUBLED.sub(r"\1", text)
    return " ".join(text.split())


# Case folding must not make 48 Gb (bits) the same question as 48 GB (bytes).
_BITS = re.compile(r"(?<=\d)(\s?[kKmMgGtTpPeE]i?)b(?=/s|ps|\b)")


def exact_key_text(text: str) -> str:
    """The exact tier's key text: canonical, case-folded, without trailing punctuation."""
    return _BITS.sub(r"\1bit", canonical(text)).casefold().rstrip(" ?!.")


# Definitional templates: "Explain X", "Can you explain what X is?", "What does X do?",
# "Tell me about X" all ask "what is X". Their embeddings sit far apart because the
# template words outweigh a short subject; embedding the subject under one template puts
# them together. Only whole-question templates are rewritten, so "How does X work?" or
# "What is X used for in Y?" keep their words.
_ART = r"(?:an?\s+|the\s+)?"
_DEFINITIONAL = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^(?:please\s+)?(?:can|could|would)\s+you\s+(?:please\s+)?(?:explain|describe|tell\s+me)\s+"
        r"(?:what\s+)?" + _ART + r"(?P<x>.+?)(?:\s+(?:is|are|means?|does|do))?$",
        r"^(?:please\s+)?(?:explain|describe|define)\s+(?:what\s+)?"
        + _ART
        + r"(?P<x>.+?)(?:\s+(?:is|are|means?))?$",
        r"^(?:tell\s+me\s+about|give\s+me\s+an\s+overview\s+of)\s+" + _ART + r"(?P<x>.+)$",
        r"^what(?:'s|\s+is|\s+are)\s+meant\s+by\s+" + _ART + r"(?P<x>.+)$",
        r"^what\s+(?:does|do)\s+"
        + _ART
        + r"(?P<x>.+?)\s+(?:do|mean|stand\s+for)(?P<y>\s+(?:on|in|for)\s+.+)?$",
        r"^what(?:'s|\s+is|\s+are)\s+" + _ART + r"(?P<x>.+?)(?:\s+used\s+for|\s+for)?$",
    )
]


def question_form(text: str) -> str:
    """The question as embedded and compared: `canonical`, then a definitional question
    ("Explain X", "Can you explain what X is?", "What does X do?") as "what is X"."""
    text = canonical(text)
    bare = text.rstrip(" ?!.")
    for pattern in _DEFINITIONAL:
        m = pattern.match(bare)
        if m:
            subject = m.group("x").strip() + (m.groupdict().get("y") or "")
            subject = re.sub(r"\s+(?:is|are)\s+(in|on|for)\s+", r" \1 ", subject)
            return "what is " + re.sub(r"\b([A-Z][A-Z0-9\-]+)s\b", r"\1", subject)  # VLANs
    return text


# -- acronyms the glossary does not know ---------------------------------------------------
# An acronym on one side and its long form on the other ("BGP" / "Border Gateway Protocol",
# "SR-IOV" / "single root I/O virtualization") are found by letter matching (Schwartz and
# Hearst's rule: the first letter starts the long form, the others follow in order, every
# word of the long form gives at least one), so no list has to know them.
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#.\-/]*[A-Za-z0-9+#]|[A-Za-z0-9]")

_ACRONYM = re.compile(r"^(?=(?:[^A-Z]*[A-Z]){2})[A-Z][A-Za-z\-/]{1,9}$")
_LINKS = {"of", "and", "for", "over", "the", "a", "an", "to", "in", "on"}


def _letters(acronym: str) -> str:
    a = acronym[:-1] if acronym.endswith("s") and acronym[:-1].isupper() else acronym
    return re.sub(r"[^a-z]", "", a.lower())


def _spells(letters: str, words: list[str], text: list[str] | None = None) -> bool:
    """Do these words spell the acronym? First letter starts the first word, the rest
    follow in order, each word (but small linking ones) gives at least one letter.
    `text`: the words lower-cased, letters only (computed when not given)."""
    if text is None:
        text = [_letters_only(w) for w in words]
    if not letters or not text or not text[0] or text[0][0] != letters[0]:
        return False

    def match(i: int, wi: int, pos: int, touched: bool) -> bool:
        if i == len(letters):
            # the long form must end here, every later word unused
            return wi == len(text) - 1 and touched
        w = text[wi]
        # the next letter inside the current word
        j = w.find(letters[i], pos)
        if j != -1 and match(i + 1, wi, j + 1, True):
            return True
        # or at the start of a following word (skipping small linking words)
        if not touched and words[wi].lower() not in _LINKS:
            return False
        for nxt in range(wi + 1, len(text)):
            if text[nxt] and text[nxt][0] == letters[i] and match(i + 1, nxt, 1, True):
                return True
            if words[nxt].lower() not in _LINKS:
                break
        return False

    return match(1, 0, 1, True)


def _long_form(acronym: str, text: str) -> tuple[int, int] | None:
    """Where in `text` (character span) the words spelling `acronym` are, if anywhere."""
    letters = _letters(acronym)
    spans = [(m.start(), m.end(), m.group(0)) for m in WORD.finditer(text)]
    words = [w for _, _, w in spans]
    plain = [_letters_only(w) for w in words]
    starts = [i for i, w in enumerate(plain) if w[:1] == letters[:1]]
    for n in range(min(len(letters) + 3, 8), 1, -1):  # the longest long form first
        for i in starts:
            if i + n <= len(words) and _spells(letters, words[i : i + n], plain[i : i + n]):
                return spans[i][0], spans[i + n - 1][1]
    return None


def _letters_only(word: str) -> str:
    return re.sub(r"[^a-z]", "", word.lower())


def align_texts(a: str, b: str) -> tuple[str, str, int]:
    """Each side's long forms of the other side's acronyms replaced by the acronym:
    ("Does the switch support the Link Aggregation Control Protocol?", "... LACP?") becomes
    the same question twice. Returns both texts and how many long forms were replaced."""
    found = 0
    texts = [a, b]
    for src, dst in ((0, 1), (1, 0)):
        for acr in dict.fromkeys(w for w in WORD.findall(texts[src]) if _ACRONYM.match(w)):
            if acr.lower() in {w.lower() for w in WORD.findall(texts[dst])}:
                continue
            span = _long_form(acr, texts[dst])
            if span is not None:
                texts[dst] = texts[dst][: span[0]] + acr + texts[dst][span[1] :]
                found += 1
    return texts[0], texts[1], found
