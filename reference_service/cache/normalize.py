"""Text normalization for the cache: one canonical form for the exact tier, and acronym
canonicalization so "Compute Express Link" and "CXL" embed (and compare) as the same thing.

The glossary is domain knowledge of the lab (hardware and cloud terms); an expansion is
replaced by its acronym wherever it appears, case-insensitively.
"""

from __future__ import annotations

import re
import unicodedata

GLOSSARY: dict[str, str] = {
    "cxl": "compute express link", "hbm": "high bandwidth memory",
    "ecc": "error correcting code", "pcie": "pci express", "nvme": "non-volatile memory express",
    "dram": "dynamic random access memory", "sram": "static random access memory",
    "ddr": "double data rate", "gpu": "graphics processing unit",
    "cpu": "central processing unit", "tdp": "thermal design power",
    "fpga": "field programmable gate array", "asic": "application specific integrated circuit",
    "rdma": "remote direct memory access", "roce": "rdma over converged ethernet",
    "nic": "network interface card", "ssd": "solid state drive", "hdd": "hard disk drive",
    "dimm": "dual inline memory module", "serdes": "serializer deserializer",
    "pam4": "pulse amplitude modulation 4", "nrz": "non return to zero",
    "numa": "non uniform memory access", "mig": "multi instance gpu",
    "bmc": "baseboard management controller", "bios": "basic input output system",
    "uefi": "unified extensible firmware interface", "psu": "power supply unit",
    "mtbf": "mean time between failures", "rma": "return merchandise authorization",
    "eks": "elastic kubernetes service", "s3": "simple storage service",
    "ec2": "elastic compute cloud", "tlb": "translation lookaside buffer",
    "iommu": "input output memory management unit", "sku": "stock keeping unit",
    "llm": "large language model", "tco": "total cost of ownership",
    "ucie": "universal chiplet interconnect express", "fec": "forward error correction",
    "mmu": "memory management unit", "os": "operating system",
}
# How an acronym is written when it replaces its expansion (default: upper case).
DISPLAY = {"pcie": "PCIe", "nvme": "NVMe", "serdes": "SerDes", "roce": "RoCE", "ucie": "UCIe",
           "mtbf": "MTBF", "os": "OS"}
_EXPANSIONS = sorted(((exp.replace("-", " "), acr) for acr, exp in GLOSSARY.items()),
                     key=lambda x: -len(x[0]))
_EXPANSION_RE = re.compile(
    r"\b(" + "|".join(re.escape(e).replace(r"\ ", r"[\s-]+") for e, _ in _EXPANSIONS) + r")\b",
    re.IGNORECASE)
_ACRONYM_OF = {e: a for e, a in _EXPANSIONS}
# "(CXL)" right after its expansion would become "CXL (CXL)"
_DOUBLED = re.compile(r"\b(\w+)\s*\(\s*\1\s*\)", re.IGNORECASE)


def _display(acronym: str) -> str:
    return DISPLAY.get(acronym, acronym.upper())


def canonical(text: str) -> str:
    """NFKC, single spaces, glossary expansions replaced by their acronyms (case kept)."""
    text = unicodedata.normalize("NFKC", text)
    text = _EXPANSION_RE.sub(
        lambda m: _display(_ACRONYM_OF[re.sub(r"[\s-]+", " ", m.group(0).lower())]), text)
    text = _DOUBLED.sub(r"\1", text)
    return " ".join(text.split())


def exact_key_text(text: str) -> str:
    """The exact tier's key text: canonical, case-folded, without trailing punctuation."""
    return canonical(text).casefold().rstrip(" ?!.")
