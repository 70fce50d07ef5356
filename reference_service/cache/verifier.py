"""The verifier: a second opinion on a semantic hit, because cosine similarity of
all-MiniLM-L6-v2 does not see the words that change the answer.

Measured (docs/CACHE.md): "Is the H100 faster than the A100?" vs the reverse scores 0.997,
"PCIe x16" vs "x4" 0.91-0.97, "enable" vs "disable ECC" 0.83-0.88, while true paraphrases
with acronyms score 0.2. So a candidate above the similarity threshold is served only if
none of these differ between the two questions (after glossary canonicalization):

- numbers (1000 vs 500, "three" vs 13, 5.0 vs 5 are the same) and versions;
- identifiers with digits: model codes, lane widths, part numbers (H100/A100, x16/x4);
- names: capitalised words and acronyms that one side has and the other lacks entirely
  (Yahoo vs PPL, Measure G vs L, Android added);
- negation (not, no, never, without, n't, cannot ...): different parity;
- antonyms (enable/disable, increase/decrease, faster/slower, upload/download, ...);
- the order of the compared things in an asymmetric comparison ("X faster than Y");
- units (hours vs days, GB vs TB, W vs kW);
- the order of the same content words when no list is involved ("What percentage of A are
  B?" vs "... of B are A?"): roles swapped.

Each rule is generic text logic, not a list of this lab's test pairs; docs/CACHE.md reports
what it buys on QQP (general domain, written by strangers) as well as on the lab's pairs.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .normalize import canonical

_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100",
                      "thousand": "1000", "million": "1000000", "billion": "1000000000",
                      "first": "1", "second": "2", "third": "3", "half": "0.5",
                      "single": "1", "double": "2", "dual": "2", "quad": "4"})
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#.\-/]*[A-Za-z0-9+#]|[A-Za-z0-9]")
_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_NEGATIONS = {"not", "no", "never", "without", "cannot", "none", "nothing", "neither", "nor",
              "nobody", "nowhere", "non"}
_ANTONYMS = [("enable", "disable"), ("enabled", "disabled"), ("increase", "decrease"),
             ("faster", "slower"), ("fast", "slow"), ("more", "less"), ("more", "fewer"),
             ("higher", "lower"), ("high", "low"), ("max", "min"), ("maximum", "minimum"),
             ("before", "after"), ("upgrade", "downgrade"), ("install", "uninstall"),
             ("read", "write"), ("reads", "writes"), ("upload", "download"), ("add", "remove"),
             ("start", "stop"), ("on", "off"), ("open", "close"), ("connect", "disconnect"),
             ("lock", "unlock"), ("encrypt", "decrypt"), ("best", "worst"),
             ("cheapest", "most expensive"), ("input", "output"), ("inbound", "outbound"),
             ("import", "export"), ("imports", "exports"), ("larger", "smaller"),
             ("bigger", "smaller"), ("better", "worse"), ("cheaper", "more expensive"),
             ("true", "false"), ("pros", "cons"), ("advantages", "disadvantages"),
             ("overclock", "underclock"), ("overclocking", "underclocking"),
             ("mount", "unmount"), ("buy", "sell"), ("hot", "cold"), ("include", "exclude"),
             ("allow", "deny"), ("accept", "reject"), ("success", "failure"),
             ("internal", "external"), ("minimum", "maximum"), ("early", "late"),
             ("gain", "loss"), ("win", "lose"), ("up", "down")]
_ANTONYM_OF: dict[str, set[str]] = {}
for a, b in _ANTONYMS:
    _ANTONYM_OF.setdefault(a, set()).add(b)
    _ANTONYM_OF.setdefault(b, set()).add(a)
_COMPARATIVE = re.compile(r"\b(\w+er|more \w+|less \w+|better|worse|rather)\s+than\b", re.I)


_UNITS = re.compile(r"\b(seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|ns|us|ms|"
                    r"kb|mb|gb|tb|pb|kib|mib|gib|tib|kbps|mbps|gbps|gb/s|tb/s|mb/s|gt/s|mt/s|"
                    r"hz|khz|mhz|ghz|w|kw|mw|watts?|v|mv|dollars?|usd|eur|euros?|rupees?|"
                    r"miles?|km|meters?|feet|inches?|kg|lbs?)\b", re.I)
_FILLER = set("""a an the is are was were be been being am do does did doing have has had having i me
my mine we our ours you your yours he him his she her hers it its they them their theirs what which
who whom whose this that these those how why when where can could should would will shall may might
must of in on at by for with about as into to from up out over under again further then once here
there all any both each few more most other some such only own same so than too very s t just don
now and or but if because until while ever one get someone something anyone way ways best good
really much many like make""".split())


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str | None = None  # which rule refused


def _numbers(words: list[str]) -> Counter:
    out = Counter()
    for w in words:
        lw = w.lower()
        if lw in _NUMBER_WORDS:
            out[_NUMBER_WORDS[lw]] += 1
            continue
        if re.search(r"[a-z]", lw):
            continue  # identifiers with letters are compared whole, below
        for n in _NUM.findall(lw):
            n = n.replace(",", "")
            if "." in n:
                n = n.rstrip("0").rstrip(".")
            out[n] += 1
    return out


def _identifiers(words: list[str]) -> set[str]:
    ids = set()
    for w in words:
        lw = w.lower()
        if re.search(r"\d", lw) and re.search(r"[a-z]", lw):
            ids.add(re.sub(r"(\d)\.0\b", r"\1", lw))
    return ids


def _names(text: str, words: list[str]) -> set[str]:
    """Capitalised words not opening a sentence, and acronyms: lower-cased, singular."""
    names = set()
    starts = {m.end() for m in re.finditer(r"(^|[.?!:;]\s+|\"\s*)", text)}
    for m in _WORD.finditer(text):
        w = m.group(0)
        if len(w) < 2 or re.search(r"\d", w):
            continue
        is_acronym = sum(c.isupper() for c in w) >= 2
        is_capitalised = w[0].isupper() and m.start() not in starts
        if (is_acronym or is_capitalised) and w.lower() not in _STOP:
            names.add(_singular(w.lower()))
    return names


def _singular(w: str) -> str:
    return w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w


_STOP = {"i", "a", "an", "the", "is", "are", "what", "how", "why", "which", "who", "when",
         "where", "can", "do", "does", "should", "will", "would", "my", "your", "our", "vs"}


_NEGATION_RE = re.compile(r"\b(" + "|".join(sorted(_NEGATIONS)) + r")\b|n['’]t\b", re.I)


def _negations(text: str) -> int:
    return len(_NEGATION_RE.findall(text))


def _order(words: list[str], keep: set[str]) -> list[str]:
    return [w.lower() for w in words if w.lower() in keep]


def _units(text: str) -> set[str]:
    return {_singular(u.lower()) for u in _UNITS.findall(text)}


def _content(text: str) -> list[str]:
    return [_singular(w.lower()) for w in re.findall(r"[A-Za-z][A-Za-z\-']+", text)
            if w.lower() not in _FILLER]


def _roles_swapped(a: str, b: str) -> bool:
    """Same content words in another order, outside a list: the roles changed."""
    if re.search(r",| and | or |/", f"{a} {b}"):
        return False
    ca, cb = _content(a), _content(b)
    shared = set(ca) & set(cb)
    if len(shared) < 2:
        return False
    return [w for w in ca if w in shared] != [w for w in cb if w in shared]


def verify(query: str, cached: str) -> Verdict:
    """May the answer cached for `cached` be served for `query`?"""
    a, b = canonical(query), canonical(cached)
    wa, wb = _WORD.findall(a), _WORD.findall(b)
    if _numbers(wa) != _numbers(wb):
        return Verdict(False, "numbers")
    ida, idb = _identifiers(wa), _identifiers(wb)
    if ida != idb:
        return Verdict(False, "identifiers")
    lower_a = {_singular(w.lower()) for w in wa}
    lower_b = {_singular(w.lower()) for w in wb}
    if (_names(a, wa) - lower_b) or (_names(b, wb) - lower_a):
        return Verdict(False, "names")
    if _negations(a) % 2 != _negations(b) % 2:
        return Verdict(False, "negation")
    set_a = {w.lower() for w in wa}
    set_b = {w.lower() for w in wb}
    for w in set_a ^ set_b:
        side, other = (set_a, set_b) if w in set_a else (set_b, set_a)
        if any(x in other and x not in side for x in _ANTONYM_OF.get(w, ())):
            return Verdict(False, "antonyms")
    if _COMPARATIVE.search(a) and _COMPARATIVE.search(b):
        keys = (ida & idb) | (_names(a, wa) & _names(b, wb))
        if _order(wa, keys) != _order(wb, keys):
            return Verdict(False, "comparison order")
    if _units(a) != _units(b):
        return Verdict(False, "units")
    if _roles_swapped(a, b):
        return Verdict(False, "roles swapped")
    return Verdict(True)
