"""Deterministic answers: a small knowledge base in the lab's domain (hardware engineering).

The fake model picks the entry whose keywords best match the last user message (then the
whole conversation); anything else gets a stable templated answer that quotes the question.
The strong model (profile `detailed=True`) adds the entry's detail paragraph, so routing to
it visibly buys a better answer at a higher price.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    topic: str
    keywords: tuple[str, ...]
    answer: str
    detail: str


KNOWLEDGE: tuple[Entry, ...] = (
    Entry(
        "HBM3",
        ("hbm3", "hbm", "high bandwidth memory"),
        "HBM3 is a stacked DRAM standard (JEDEC JESD238) that places up to 12 or 16 dies on a "
        "silicon interposer next to the processor. Each stack has a 1024-bit interface running "
        "at up to 6.4 Gb/s per pin, which gives about 819 GB/s per stack.",
        "Compared with HBM2E it doubles the independent channels to 16 (32 pseudo-channels), "
        "lowers the core voltage to 1.1 V and adds on-die ECC. Accelerators such as the H100 "
        "SXM5 use five active stacks for about 3.35 TB/s.",
    ),
    Entry(
        "NVLink",
        ("nvlink", "nvswitch"),
        "NVLink is NVIDIA's point-to-point GPU interconnect. NVLink 4 on the H100 gives 18 links "
        "of 50 GB/s, 900 GB/s of total bidirectional bandwidth per GPU.",
        "That is about seven times PCIe 5.0 x16. NVSwitch chips connect every GPU in a node "
        "(or, with the NVLink Switch System, up to 256 GPUs) at full bandwidth, which is what "
        "makes tensor parallelism across GPUs practical.",
    ),
    Entry(
        "PCIe",
        ("pcie", "pci express", "pci-e"),
        "PCI Express is a serial, packet-based expansion bus built from lanes. PCIe 5.0 runs at "
        "32 GT/s per lane, so an x16 slot moves about 63 GB/s in each direction.",
        "PCIe 5.0 keeps 128b/130b encoding; PCIe 6.0 doubles the rate to 64 GT/s with PAM4 "
        "signalling, FLIT mode and forward error correction. Link width (x1, x4, x8, x16) "
        "scales bandwidth linearly, so an x4 link has a quarter of an x16 link's bandwidth.",
    ),
    Entry(
        "DDR5",
        ("ddr5", "ddr4", "dimm"),
        "DDR5 is the fifth generation of double-data-rate SDRAM. Each DIMM has two independent "
        "32-bit subchannels, and speeds start at 4800 MT/s and reach 6400 MT/s and beyond.",
        "It moves voltage regulation onto the DIMM (a PMIC), doubles the burst length to 16 and "
        "adds on-die ECC, which corrects errors inside the DRAM but does not replace "
        "side-band ECC on server DIMMs.",
    ),
    Entry(
        "CXL",
        ("cxl", "compute express link"),
        "Compute Express Link (CXL) is a cache-coherent interconnect that runs over the PCIe "
        "physical layer. It defines three protocols: CXL.io, CXL.cache and CXL.mem.",
        "CXL.mem lets a host use memory on an expander card as ordinary system memory; CXL 2.0 "
        "adds switching and memory pooling, CXL 3.0 moves to PCIe 6.0 signalling and adds "
        "fabric-attached, shared memory.",
    ),
    Entry(
        "ECC",
        ("ecc", "error correcting", "error-correcting", "bit flip"),
        "ECC memory stores extra check bits with each word so the memory controller can "
        "correct single-bit errors and detect double-bit errors (SECDED).",
        "Servers enable it in firmware; disabling it saves a few percent of bandwidth but lets "
        "silent data corruption through. Chipkill-style codes also survive a whole DRAM device "
        "failing.",
    ),
    Entry(
        "H100",
        ("h100", "hopper"),
        "The NVIDIA H100 is a Hopper-architecture data-centre GPU with fourth-generation Tensor "
        "Cores and a Transformer Engine that runs FP8. The SXM5 version has 80 GB of HBM3 at "
        "about 3.35 TB/s and a 700 W TDP.",
        "The PCIe version has lower clocks, HBM2e at about 2 TB/s and a 350 W TDP. For large "
        "language model training the H100 SXM5 is roughly two to three times faster than the "
        "A100, more with FP8.",
    ),
    Entry(
        "A100",
        ("a100", "ampere"),
        "The NVIDIA A100 is an Ampere-architecture data-centre GPU with third-generation Tensor "
        "Cores, TF32 support and Multi-Instance GPU (MIG) partitioning into up to seven "
        "instances.",
        "It comes with 40 GB of HBM2 or 80 GB of HBM2e (about 2 TB/s) and NVLink 3 at 600 GB/s.",
    ),
    Entry(
        "GDDR6",
        ("gddr6", "gddr6x", "gddr"),
        "GDDR6 is graphics DRAM soldered around the GPU on the board. It trades the width of "
        "HBM for very high per-pin speeds, 16 to 24 Gb/s.",
        "GDDR6X uses PAM4 signalling to reach about 21-24 Gb/s per pin; a 384-bit bus then "
        "gives about 1 TB/s, cheaper than HBM but at more power per bit.",
    ),
    Entry(
        "NVMe",
        ("nvme", "ssd", "solid state"),
        "NVMe is the protocol for flash storage attached over PCIe. It supports up to 64K "
        "queues of 64K commands each, so SSDs can serve many cores in parallel with low "
        "latency.",
        "A PCIe 4.0 x4 NVMe drive reads about 7 GB/s sequentially; PCIe 5.0 x4 drives reach "
        "about 14 GB/s. NVMe over Fabrics carries the same commands over RDMA or TCP.",
    ),
    Entry(
        "InfiniBand",
        ("infiniband", "rdma", "roce"),
        "InfiniBand is a switched, lossless network with RDMA built in, used to connect nodes "
        "in HPC and AI clusters. NDR InfiniBand runs at 400 Gb/s per port.",
        "RDMA lets a NIC read or write remote memory without involving the remote CPU; RoCE "
        "brings the same verbs to Ethernet. GPUDirect RDMA moves data straight between GPU "
        "memory and the NIC.",
    ),
    Entry(
        "Chiplets",
        ("chiplet", "chiplets", "ucie"),
        "A chiplet design splits a processor into several smaller dies in one package, joined "
        "by a die-to-die interconnect. Smaller dies yield better and each can use the process "
        "node that suits it.",
        "UCIe is the open die-to-die standard; AMD EPYC and MI300 and Intel Sapphire Rapids "
        "are chiplet designs. The cost is extra latency and energy per bit crossing dies.",
    ),
    Entry(
        "TDP",
        ("tdp", "thermal design power", "power draw", "cooling"),
        "Thermal design power (TDP) is the sustained heat a cooling system must remove for a "
        "chip to run at its rated clocks. It is a design target, not a maximum power draw.",
        "Short bursts can exceed it; data-centre GPUs are usually capped at their TDP by "
        "firmware, and a 700 W part needs liquid or very strong air cooling.",
    ),
    Entry(
        "Cache coherence",
        ("coherence", "coherent", "mesi", "moesi", "snoop"),
        "Cache coherence keeps the copies of one memory location in several caches consistent. "
        "Protocols such as MESI track each line as Modified, Exclusive, Shared or Invalid.",
        "Small systems snoop a shared bus; large ones use directories to avoid broadcast "
        "traffic. CXL.cache extends coherence to accelerators on the PCIe physical layer.",
    ),
    Entry(
        "SerDes",
        ("serdes", "pam4", "nrz", "signal integrity"),
        "A SerDes (serializer/deserializer) turns a wide parallel bus into one fast serial lane "
        "and back. Modern SerDes run at 112 Gb/s per lane with PAM4 signalling.",
        "PAM4 sends two bits per symbol at the cost of signal-to-noise ratio, so links need "
        "equalisation and forward error correction; NRZ sends one bit per symbol.",
    ),
    Entry(
        "FPGA",
        ("fpga", "lut", "verilog", "vhdl"),
        "An FPGA is a chip of configurable logic blocks (lookup tables and flip-flops), DSP "
        "slices and block RAM joined by a programmable routing fabric. You describe hardware in "
        "Verilog or VHDL and a toolchain maps it onto the fabric.",
        "Timing closure means every path meets the clock period after placement and routing; "
        "pipelining registers shorten critical paths at the cost of latency.",
    ),
)

_WORD = re.compile(r"[a-z0-9][a-z0-9.+-]*")


def _score(entry: Entry, text: str) -> int:
    text = text.lower()
    words = set(_WORD.findall(text))
    score = 0
    for kw in entry.keywords:
        if " " in kw or "-" in kw:
            score += 2 if kw in text else 0
        elif kw in words or any(w.startswith(kw) for w in words):
            score += 2
    return score


def find_entry(text: str) -> Entry | None:
    """The best-matching entry for `text`, or None. Ties go to the first entry."""
    best, best_score = None, 0
    for entry in KNOWLEDGE:
        s = _score(entry, text)
        if s > best_score:
            best, best_score = entry, s
    return best


def answer(user_messages: list[str], model: str, detailed: bool) -> str:
    """The fake model's answer to a conversation, given its user messages in order."""
    if not user_messages:
        return f"Hello from {model}. Ask me about hardware: HBM3, NVLink, PCIe, DDR5, CXL, ..."
    last = user_messages[-1]
    entry = find_entry(last)
    prefix = ""
    if entry is None and len(user_messages) > 1:
        entry = find_entry(" ".join(user_messages[:-1]))
        prefix = "Following up on {topic}: " if entry else ""
    if entry is None:
        question = " ".join(last.split())
        if len(question) > 200:
            question = question[:200] + "..."
        return (
            f'This is a mock answer from {model} to: "{question}". The fake LLM answers '
            "hardware questions (HBM3, NVLink, PCIe, DDR5, CXL, ECC, H100, A100, GDDR6, NVMe, "
            "InfiniBand, chiplets, TDP, cache coherence, SerDes, FPGA) from a small knowledge "
            "base and gives this templated answer to anything else."
        )
    text = prefix.format(topic=entry.topic) + entry.answer
    return f"{text} {entry.detail}" if detailed else text
