"""Measure PII detection on labelled texts: per-entity precision and recall, leaks, and the
hardware terms that were wrongly masked.

    python -m reference_service.safety eval --cases data/pii_cases.jsonl [--split test]
        [--untuned] [--json]
    python -m reference_service.safety numbers [--per-kind 600] [--untuned]
    python -m reference_service.safety cost [--cases ...] [--repeat 5]

A detection counts as a true positive when it overlaps a labelled span of the same type.
"Leaked" counts labelled spans that no detection of any type covers (what matters for
privacy: a phone number masked as something else is still not sent). A domain-term false
positive is a labelled hardware term that a detection overlaps.

`numbers` measures over-masking where no labelled set can: synthetic lists of numbers as
hardware text has them (sizes, clocks, ports), in which chance makes some pass a Luhn check.
`cost` measures what the written-form steps add to the analysis of a text.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .pii import Finding, PiiRedactor
from .recognizers import ENTITIES

if TYPE_CHECKING:
    import random


def load_cases(path: str | Path, split: str = "all") -> list[dict[str, Any]]:
    cases = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return [c for c in cases if split == "all" or c.get("split") == split]


def untuned_redactor() -> PiiRedactor:
    """Presidio's default registry (every predefined recognizer) on the same spaCy model,
    with no domain rules: the starting point the tuning is measured against."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from .recognizers import SPACY_MODEL, _offline_email_recognizer

    nlp = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
        }
    ).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    analyzer.registry.remove_recognizer("EmailRecognizer")  # its default one goes online
    analyzer.registry.add_recognizer(_offline_email_recognizer())

    class Untuned(PiiRedactor):
        def _analyze(self, text: str) -> list[Finding]:
            results = self.analyzer.analyze(
                text, language="en", entities=self.entities, score_threshold=self.score_threshold
            )
            return [Finding(r.entity_type, r.start, r.end, r.score) for r in results]

    return Untuned(analyzer)


# long: one pass over the cases, counting each kind of outcome
def evaluate(redactor: PiiRedactor, cases: list[dict[str, Any]]) -> dict[str, Any]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    leaked = 0
    term_fps: list[dict[str, str]] = []
    misses: list[dict[str, str]] = []
    false_alarms: list[dict[str, str]] = []
    start = time.perf_counter()
    for case in cases:
        text = case["text"]
        found = redactor.find(text)
        gold = case["entities"]
        for f in found:
            if any(
                g["type"] == f.entity_type and f.start < g["end"] and g["start"] < f.end
                for g in gold
            ):
                tp[f.entity_type] += 1
            else:
                fp[f.entity_type] += 1
                false_alarms.append(
                    {"id": case["id"], "type": f.entity_type, "text": text[f.start : f.end]}
                )
        for g in gold:
            same = any(
                g["type"] == f.entity_type and f.start < g["end"] and g["start"] < f.end
                for f in found
            )
            if not same:
                fn[g["type"]] += 1
            covered = any(f.start <= g["start"] and g["end"] <= f.end for f in found)
            if not covered:
                leaked += 1
                misses.append({"id": case["id"], "type": g["type"], "text": g["value"]})
        for term in case.get("domain_terms", []):
            at = text.find(term)
            hit = [f for f in found if f.start < at + len(term) and at < f.end]
            if hit:
                term_fps.append({"id": case["id"], "term": term, "as": hit[0].entity_type})
    seconds = time.perf_counter() - start

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 3) if b else None

    per_entity = {
        e: {
            "precision": ratio(tp[e], tp[e] + fp[e]),
            "recall": ratio(tp[e], tp[e] + fn[e]),
            "tp": tp[e],
            "fp": fp[e],
            "fn": fn[e],
        }
        for e in ENTITIES
    }
    all_tp, all_fp, all_fn = sum(tp.values()), sum(fp.values()), sum(fn.values())
    n_terms = sum(len(c.get("domain_terms", [])) for c in cases)
    n_gold = sum(len(c["entities"]) for c in cases)
    return {
        "n_cases": len(cases),
        "n_entities": n_gold,
        "n_domain_terms": n_terms,
        "precision": ratio(all_tp, all_tp + all_fp),
        "recall": ratio(all_tp, all_tp + all_fn),
        "leaked": leaked,
        "domain_term_false_positives": len(term_fps),
        "per_entity": per_entity,
        "ms_per_text": round(seconds * 1000 / max(1, len(cases)), 2),
        "misses": misses,
        "false_alarms": false_alarms,
        "domain_terms_masked": term_fps,
    }


# Lists of numbers as hardware text has them (sizes, clocks, ports, counts): no personal data,
# but the shapes a card, an SSN or a phone number can take. Chance alone makes some of them
# pass a Luhn check or look like a phone; this measures how many get masked.
NUMBER_LISTS: dict[str, Callable[[random.Random], list[str]]] = {
    "powers of two": lambda rng: [str(2 ** rng.randint(0, 17)) for _ in range(rng.randint(3, 8))],
    "clocks 1000-2999": lambda rng: [
        str(rng.randint(1000, 2999)) for _ in range(rng.randint(3, 8))
    ],
    "4-digit numbers": lambda rng: [str(rng.randint(1000, 9999)) for _ in range(rng.randint(3, 8))],
    "ports": lambda rng: [
        str(rng.choice([22, 80, 443, 4420, 5432, 6379, 8000, 8001, 8002, 9090, 27000]))
        for _ in range(rng.randint(3, 8))
    ],
    "1-5 digit numbers": lambda rng: [
        str(rng.randint(0, 10 ** rng.randint(1, 5))) for _ in range(rng.randint(3, 10))
    ],
    "single digits": lambda rng: [str(rng.randint(0, 9)) for _ in range(rng.randint(8, 20))],
}


def number_lists(redactor: PiiRedactor, per_kind: int = 600, seed: int = 0) -> dict[str, Any]:
    """Share of synthetic hardware number lists ("The values are 2048 4096 8192 on the
    H100.") with a detection, per kind of list, and the detections by type."""
    import random

    rng = random.Random(seed)
    out: dict[str, Any] = {}
    for kind, make in NUMBER_LISTS.items():
        texts = 0
        by_type: Counter[str] = Counter()
        for _ in range(per_kind):
            sep = rng.choice([" ", ", ", " / ", "\n", " "])
            found = redactor.find(f"The values are {sep.join(make(rng))} on the H100.")
            texts += bool(found)
            by_type.update(f.entity_type for f in found)
        out[kind] = {"texts": per_kind, "with_a_detection": texts, "by_type": dict(by_type)}
    return out


def written_forms_cost(texts: list[str], repeat: int = 5) -> dict[str, Any]:
    """Per-text analysis time (ms) with and without the written-form steps (normalization and
    the two recognizers of obfuscated.py), interleaved text by text in one process so that
    the machine's load weighs on both alike; and the steps alone (µs)."""
    import statistics
    from unittest import mock

    from .normalize import NormalizedText, normalize
    from .obfuscated import SeparatedDigitsRecognizer, SpelledEmailRecognizer
    from .recognizers import build_analyzer, is_domain, shared_analyzer

    without_analyzer = build_analyzer()
    for name in ("SeparatedDigits", "SpelledEmail"):
        without_analyzer.registry.remove_recognizer(name)
    with_steps, without = PiiRedactor(shared_analyzer()), PiiRedactor(without_analyzer)
    digits, emails = SeparatedDigitsRecognizer(), SpelledEmailRecognizer(is_domain)
    times: dict[str, list[float]] = {"with": [], "without": [], "steps_us": []}
    for _ in range(repeat):
        for text in texts:
            start = time.perf_counter()
            with_steps.find(text)
            times["with"].append((time.perf_counter() - start) * 1000)
            with mock.patch(f"{__package__}.pii.normalize", NormalizedText):
                start = time.perf_counter()
                without.find(text)
                times["without"].append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            norm = normalize(text).text
            digits.analyze(norm, ["CREDIT_CARD", "US_SSN", "PHONE_NUMBER"])
            emails.analyze(norm, ["EMAIL_ADDRESS"])
            times["steps_us"].append((time.perf_counter() - start) * 1e6)

    def summary(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "p50": round(ordered[len(ordered) // 2], 2),
            "p95": round(ordered[int(0.95 * len(ordered))], 2),
            "mean": round(statistics.mean(values), 2),
        }

    return {
        "texts": len(texts),
        "repeat": repeat,
        "mean_chars": round(statistics.mean(map(len, texts))),
        **{k: summary(v) for k, v in times.items()},
    }


def format_report(r: dict[str, Any]) -> str:
    lines = [
        f"{r['n_cases']} texts, {r['n_entities']} labelled entities, "
        f"{r['n_domain_terms']} hardware terms; {r['ms_per_text']} ms per text",
        f"overall: precision {r['precision']}, recall {r['recall']}, "
        f"leaked {r['leaked']}/{r['n_entities']}, hardware terms masked "
        f"{r['domain_term_false_positives']}/{r['n_domain_terms']}",
        "",
        f"{'entity':<14} {'precision':>9} {'recall':>7} {'tp':>4} {'fp':>4} {'fn':>4}",
    ]
    for e, m in r["per_entity"].items():
        p = "-" if m["precision"] is None else f"{m['precision']:.3f}"
        rc = "-" if m["recall"] is None else f"{m['recall']:.3f}"
        lines.append(f"{e:<14} {p:>9} {rc:>7} {m['tp']:>4} {m['fp']:>4} {m['fn']:>4}")
    for title, key, fmt in (
        ("missed", "misses", "{id} {type}: {text!r}"),
        ("false alarms", "false_alarms", "{id} {type}: {text!r}"),
        ("hardware terms masked", "domain_terms_masked", "{id} {term!r} as {as}"),
    ):
        if r[key]:
            lines += ["", f"{title}:"] + ["  " + fmt.format(**x) for x in r[key]]
    return "\n".join(lines)
