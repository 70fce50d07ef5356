"""The verifier: a second opinion on a semantic candidate, because cosine similarity of
all-MiniLM-L6-v2 does not see the words that change the answer.

Measured (docs/CACHE.md): "Is the H100 faster than the A100?" vs the reverse scores 0.997,
"PCIe x16" vs "x4" 0.91-0.97, "enable" vs "disable ECC" 0.83-0.88, while true paraphrases
with acronyms score 0.2-0.5. `judge` decides, on the two questions in question form
(normalize.question_form) with the long forms of each side's acronyms aligned:

*Exact* rules (`hard_reason`) refuse whatever the similarity; each says something true of
the two texts in any context:
- numbers (1000 vs 500, "three" vs 13, 5.0 vs 5 are the same) and versions;
- identifiers with digits: model codes, lane widths, part numbers (H100/A100, x16/x4);
- negation (not, no, never, without, n't, cannot ...): different parity;
- antonyms and directions (enable/disable, upload/download, ingress/egress, un-/dis-
  prefixes, "from X to Y" reversed), days and times of day;
- the order of the compared things in an asymmetric comparison ("X faster than Y"), and
  its degree ("as big as X" is not "bigger than X");
- units (hours vs days, GB vs TB vs Gb, W vs kW);
- roles exchanged: the same sentence with two words or identifiers in each other's place
  ("Can the BMC update the BIOS?" / "Can the BIOS update the BMC?").

Then a candidate with the same content words after alignment is served (an acronym
against its long form); any other is served at the similarity threshold or above unless a
*soft* rule (`soft_reason`) refuses it: a name one side lacks ("Yahoo" vs "PPL", a letter
used as a name: "Measure G" vs "Measure L"), or a question how to compute something against
one what it is ("How can you determine the heat capacity of silver?" / "What is ...?").

Each rule is generic text logic, not a list of this lab's test pairs; docs/CACHE.md reports
what it buys on QQP (general domain, written by strangers) as well as on the lab's pairs.
An earlier soft rule, "the same content words in another order", refused true reorderings
("The A100 uses which PCIe generation?") as often as role swaps; the exact exchange rule
replaced it (lab train recall 0.50 -> 0.62 at threshold 0.93, QQP dev precision unchanged).
The comparison degree, letters as names and method-vs-value rules came from the QQP dev
file's false hits (issue #16); at 0.93 they remove 3 of its 33 wrong hits and no right one
(QQP dev precision 0.894 -> 0.902), nothing on the lab's train pairs.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from .normalize import WORD, align_texts, question_form

_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER_WORDS.update(
    {
        "thirty": "30",
        "forty": "40",
        "fifty": "50",
        "hundred": "100",
        "thousand": "1000",
        "million": "1000000",
        "billion": "1000000000",
        "first": "1",
        "second": "2",
        "third": "3",
        "half": "0.5",
        "single": "1",
        "double": "2",
        "dual": "2",
        "quad": "4",
    }
)
_WORD = WORD
_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_NEGATIONS = {
    "not",
    "no",
    "never",
    "without",
    "cannot",
    "none",
    "nothing",
    "neither",
    "nor",
    "nobody",
    "nowhere",
    "non",
}
_ANTONYMS = [
    ("enable", "disable"),
    ("enabled", "disabled"),
    ("increase", "decrease"),
    ("faster", "slower"),
    ("fast", "slow"),
    ("more", "less"),
    ("more", "fewer"),
    ("higher", "lower"),
    ("high", "low"),
    ("max", "min"),
    ("maximum", "minimum"),
    ("before", "after"),
    ("upgrade", "downgrade"),
    ("install", "uninstall"),
    ("read", "write"),
    ("reads", "writes"),
    ("upload", "download"),
    ("add", "remove"),
    ("start", "stop"),
    ("on", "off"),
    ("open", "close"),
    ("connect", "disconnect"),
    ("lock", "unlock"),
    ("encrypt", "decrypt"),
    ("best", "worst"),
    ("cheapest", "most expensive"),
    ("input", "output"),
    ("inbound", "outbound"),
    ("import", "export"),
    ("imports", "exports"),
    ("larger", "smaller"),
    ("bigger", "smaller"),
    ("better", "worse"),
    ("cheaper", "more expensive"),
    ("true", "false"),
    ("pros", "cons"),
    ("advantages", "disadvantages"),
    ("overclock", "underclock"),
    ("overclocking", "underclocking"),
    ("mount", "unmount"),
    ("buy", "sell"),
    ("hot", "cold"),
    ("include", "exclude"),
    ("allow", "deny"),
    ("accept", "reject"),
    ("success", "failure"),
    ("internal", "external"),
    ("minimum", "maximum"),
    ("early", "late"),
    ("gain", "loss"),
    ("win", "lose"),
    ("up", "down"),
    # directions and sides
    ("ingress", "egress"),
    ("upstream", "downstream"),
    ("uplink", "downlink"),
    ("inlet", "outlet"),
    ("incoming", "outgoing"),
    ("front", "rear"),
    ("front", "back"),
    ("left", "right"),
    ("north", "south"),
    ("east", "west"),
    ("into", "out"),
    ("over", "under"),
    ("above", "below"),
    ("push", "pull"),
    ("send", "receive"),
    ("source", "destination"),
    ("sender", "receiver"),
    ("attach", "detach"),
    ("fill", "drain"),
    ("charge", "discharge"),
    ("raise", "lower"),
    ("active", "passive"),
    ("public", "private"),
    ("primary", "secondary"),
    ("first", "last"),
    ("least", "most"),
    ("love", "hate"),
    ("like", "dislike"),
    ("cheap", "expensive"),
    ("pass", "fail"),
    ("grant", "revoke"),
    ("expand", "shrink"),
    ("plug", "unplug"),
    ("escalate", "de-escalate"),
]
# Opposites made with a prefix ("encrypted"/"unencrypted", "activate"/"deactivate").
_NEG_PREFIXES = ("un", "non-", "non", "dis", "de-", "de")
_ANTONYM_OF: dict[str, set[str]] = {}
for a, b in _ANTONYMS:
    _ANTONYM_OF.setdefault(a, set()).add(b)
    _ANTONYM_OF.setdefault(b, set()).add(a)
# Days and times of day: a question about Monday is not one about Sunday.
_DAYS = re.compile(
    r"\b(mon|tues|wednes|thurs|fri|satur|sun)days?\b|\b(weekdays?|weekends?|today|"
    r"tomorrow|yesterday|tonight|overnight|mornings?|afternoons?|evenings?|"
    r"nights?|daily|weekly|monthly|yearly|annually|hourly|nightly)\b",
    re.I,
)
_COMPARATIVE = re.compile(r"\b(\w+er|more \w+|less \w+|better|worse|rather)\s+than\b", re.I)
# "as big as" (equal) against "bigger than" / "more popular than" (more) of the same word.
_EQUATIVE = re.compile(r"\bas (\w+) as\b", re.I)
_DEGREE = re.compile(r"\b(?:more|less) (\w+) than\b|\b(\w+?)(?:er|r) than\b", re.I)


_UNITS = re.compile(
    r"\b(seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|ns|us|ms|"
    r"kb|mb|gb|tb|pb|kib|mib|gib|tib|kbps|mbps|gbps|gb/s|tb/s|mb/s|gt/s|mt/s|"
    r"hz|khz|mhz|ghz|w|kw|mw|watts?|v|mv|dollars?|usd|eur|euros?|rupees?|"
    r"miles?|km|meters?|feet|inches?|kg|lbs?)\b",
    re.I,
)
# A unit right after a number ("3 m", "85 C", "48 Gb", "16 A"). Bits and bytes keep their
# case (Gb is not GB); everything else is case-folded and singular.
_ATTACHED_UNIT = re.compile(
    r"\d(?:[\d.,]*\d)?\s?(°\s?[cf]\b|[kmgtpe]i?[bB](?:/s|ps)?\b|[kmg]?va\b|[kmg]?w\b|"
    r"[kmgt]?hz\b|[mk]?a\b|[mk]?v\b|[cmk]?m\b|mm\b|ft\b|c\b|f\b|lpm\b|u\b|"
    r"liters?\b|litres?\b|°)",
    re.I,
)
_FILLER = set(
    """a an the is are was were be been being am do does did doing have has had having i me
my mine we our ours you your yours he him his she her hers it its they them their theirs what which
who whom whose this that these those how why when where can could should would will shall may might
must of in on at by for with about as into to from up out over under again further then once here
there all any both each few more most other some such only own same so than too very s t just don
now and or but if because until while ever one get someone something anyone way ways best good
really much many like make""".split()
)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str | None = None  # which rule refused


def _numbers(words: list[str]) -> Counter[str]:
    out: Counter[str] = Counter()
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
        if len(w) == 1 and w not in "IA" and w.isupper() and m.start() not in starts:
            names.add(w.lower())  # a letter as a name: "Measure G", "vitamin E", "node X"
            continue
        if len(w) < 2 or re.search(r"\d", w):
            continue
        is_acronym = sum(c.isupper() for c in w) >= 2
        is_capitalised = w[0].isupper() and m.start() not in starts
        if (is_acronym or is_capitalised) and w.lower() not in _STOP:
            names.add(_singular(w.lower()))
    return names


def _singular(w: str) -> str:
    return w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w


_STOP = {
    "i",
    "a",
    "an",
    "the",
    "is",
    "are",
    "what",
    "how",
    "why",
    "which",
    "who",
    "when",
    "where",
    "can",
    "do",
    "does",
    "should",
    "will",
    "would",
    "my",
    "your",
    "our",
    "vs",
}


_NEGATION_RE = re.compile(r"\b(" + "|".join(sorted(_NEGATIONS)) + r")\b|n['’]t\b", re.I)


def _negations(text: str) -> int:
    return len(_NEGATION_RE.findall(text))


def _order(words: list[str], keep: set[str]) -> list[str]:
    return [w.lower() for w in words if w.lower() in keep]


def _units(text: str) -> set[str]:
    units = {_singular(u.lower()) for u in _UNITS.findall(text)}
    for u in _ATTACHED_UNIT.findall(text):
        u = u.replace(" ", "").replace("°", "deg")
        bits = re.fullmatch(r"([kmgtpe]i?)([bB])((?:/s|ps)?)", u, re.I)
        if bits:  # Gb vs GB matters; gb/s and gbps are the same
            units.add(bits.group(1).lower() + bits.group(2) + ("/s" if bits.group(3) else ""))
        else:
            units.add(_singular(u.lower()))
    return units


def _days(text: str) -> set[str]:
    return {_singular(m.group(0).lower()) for m in _DAYS.finditer(text)}


@lru_cache(maxsize=4096)
def _stem(w: str) -> str:
    """A crude stem, enough to see "uploading" and "download" as opposites."""
    w = w.lower()
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if len(w) > len(suffix) + 3 and w.endswith(suffix) and not w.endswith("ss"):
            w = w[: -len(suffix)] + repl
            break
    return w[:-1] if len(w) > 4 and w.endswith("e") else w  # "include" = "includ(ed)"


_STEM_ANTONYMS: dict[str, set[str]] = {}
for _a, _b in _ANTONYMS:
    _STEM_ANTONYMS.setdefault(_stem(_a), set()).add(_stem(_b))
    _STEM_ANTONYMS.setdefault(_stem(_b), set()).add(_stem(_a))


def _opposite(w: str, others: set[str]) -> bool:
    """Is one of `others` (stems) an opposite of w (a stem)?"""
    if _STEM_ANTONYMS.get(w, set()) & others:
        return True
    for prefix in _NEG_PREFIXES:  # "unlock" / "lock", either way round
        if len(w) >= 4 and prefix + w in others:
            return True
        rest = w[len(prefix) :]
        if w.startswith(prefix) and len(rest) >= 4 and rest in others:
            return True
    return False


def _content(text: str) -> list[str]:
    words = (re.sub(r"'s$|'$", "", w.lower()) for w in re.findall(r"[A-Za-z][A-Za-z\-']+", text))
    return [_singular(w) for w in words if w not in _FILLER]


_FROM_TO = re.compile(r"\b([A-Za-z][\w\-]*) to (?:the |a |an )?([A-Za-z][\w\-]*)", re.I)


def _reversed_direction(a: str, b: str) -> bool:
    """ "from X to Y" on one side, "from Y to X" on the other."""

    def hops(text: str) -> set[tuple[str, str]]:
        return {
            (x.lower(), y.lower())
            for x, y in _FROM_TO.findall(text)
            if x.lower() not in _FILLER and y.lower() not in _FILLER
        }

    ha, hb = hops(a), hops(b)
    return any((y, x) in hb and (x, y) not in hb for x, y in ha)


def _compared_stems(text: str) -> set[str]:
    """The words compared with "-er than" / "more X than", as their positive form may be
    spelled ("bigger" -> bigg, big; "happier" -> happi, happy; "safer" -> saf, safe)."""
    out = set()
    for m in _DEGREE.finditer(text):
        w = (m.group(1) or m.group(2)).lower()
        out |= {w, w + "e"}
        if len(w) > 2 and w[-1] == w[-2]:
            out.add(w[:-1])
        if w.endswith("i"):
            out.add(w[:-1] + "y")
    return out


def _degree_differs(a: str, b: str) -> bool:
    """ "as big as X" on one side, "bigger than X" on the other: equal is not more."""
    for x, y in ((a, b), (b, a)):
        equal = {m.group(1).lower() for m in _EQUATIVE.finditer(x)}
        equal -= {m.group(1).lower() for m in _EQUATIVE.finditer(y)}
        if equal & (_compared_stems(y) - _compared_stems(x)):
            return True
    return False


def _roles_swapped(a: str, b: str) -> bool:
    """Same content words in another order, outside a list: the roles changed."""
    if re.search(r",| and | or |/", f"{a} {b}"):
        return False
    ca, cb = _content(a), _content(b)
    shared = set(ca) & set(cb)
    if len(shared) < 2:
        return False
    return [w for w in ca if w in shared] != [w for w in cb if w in shared]


def _swapped(wa: list[str], wb: list[str], keys: set[str]) -> bool:
    """The same sentence with the `keys` in other places: roles exchanged, not reworded."""

    def frame(words: list[str]) -> list[str]:
        return [("<k>" if _id_key(w) in keys else w.lower()) for w in words]

    return frame(wa) == frame(wb) and [_id_key(w) for w in wa if _id_key(w) in keys] != [
        _id_key(w) for w in wb if _id_key(w) in keys
    ]


_ARTICLES = {"a", "an", "the", "another", "s"}


def _exchanged(a: str, b: str) -> bool:
    """The same words in the same frame with two or more of them exchanged ("Can the BMC
    update the BIOS?" / "Can the BIOS update the BMC?"): who does what to whom changed.
    Articles and possessive 's are ignored; lists ("A and B") are left alone."""
    if _LIST.search(f"{a} {b}"):
        return False

    def tokens(text: str) -> list[str]:
        return [
            _singular(w.lower())
            for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9+#.\-/]*", text)
            if w.lower() not in _ARTICLES
        ]

    ta, tb = tokens(a), tokens(b)
    if len(ta) != len(tb):
        return False
    diff = [i for i, (x, y) in enumerate(zip(ta, tb, strict=True)) if x != y]
    return len(diff) >= 2 and sorted(ta[i] for i in diff) == sorted(tb[i] for i in diff)


def _id_key(w: str) -> str:
    return re.sub(r"(\d)\.0\b", r"\1", w.lower())


_LIST = re.compile(r",| and | or |/| vs\.? | versus ", re.I)


def hard_reason(a: str, b: str) -> str | None:
    """The exact rule that tells these two (canonical) questions apart, if any."""
    wa, wb = _WORD.findall(a), _WORD.findall(b)
    if _numbers(wa) != _numbers(wb):
        return "numbers"
    ida, idb = _identifiers(wa), _identifiers(wb)
    if ida != idb:
        return "identifiers"
    if _negations(a) % 2 != _negations(b) % 2:
        return "negation"
    stems_a = {_stem(w) for w in wa}
    stems_b = {_stem(w) for w in wb}
    for w in stems_a ^ stems_b:
        side, other = (stems_a, stems_b) if w in stems_a else (stems_b, stems_a)
        if _opposite(w, other - side):
            return "antonyms"
    if _days(a) != _days(b):
        return "days"
    if _reversed_direction(a, b):
        return "direction reversed"
    if _COMPARATIVE.search(a) and _COMPARATIVE.search(b):
        keys = (ida & idb) | (_names(a, wa) & _names(b, wb))
        if _order(wa, keys) != _order(wb, keys):
            return "comparison order"
    if _degree_differs(a, b):
        return "comparison degree"
    if _units(a) != _units(b):
        return "units"
    if len(ida) >= 2 and _swapped(wa, wb, ida) and not _LIST.search(f"{a} {b}"):
        return "identifier roles"  # "Does the QSFP112 port take QSFP56 cables?" reversed
    if _exchanged(a, b):
        return "roles exchanged"
    return None


# "How do I calculate X?" asks for a method, "What is X?" for X itself.
_METHOD = re.compile(
    r"\bhow\b.*\b(determine|calculate|compute|measure|estimate|derive)[sd]?\b", re.I
)
_WHAT_IS = re.compile(r"^\s*what(?:'s|\s+is|\s+are)\b", re.I)


def _method_vs_value(a: str, b: str) -> bool:
    return any(
        bool(_METHOD.search(x)) and not _METHOD.search(y) and bool(_WHAT_IS.match(y))
        for x, y in ((a, b), (b, a))
    )


def soft_reason(a: str, b: str) -> str | None:
    """A heuristic that says these (canonical) questions differ: a name (capitalised word,
    acronym or letter) on one side that the other lacks, or one asks how to compute what the
    other asks for. It has exceptions (an acronym against
    a long form that does not spell it: "VRAM" / "GPU memory"), so it is only asked about
    candidates that are not the same question after acronym alignment."""
    wa, wb = _WORD.findall(a), _WORD.findall(b)
    lower_a = {_singular(w.lower()) for w in wa}
    lower_b = {_singular(w.lower()) for w in wb}
    if (_names(a, wa) - lower_b) or (_names(b, wb) - lower_a):
        return "names"
    if _method_vs_value(a, b):
        return "method vs value"
    return None


# The lowest cosine at which a candidate that is the same question after acronym alignment
# is served. all-MiniLM-L6-v2 puts "What is BGP?" and "What is Border Gateway Protocol?" at
# 0.42, "DWPD" and "drive writes per day" at 0.16: the alignment, not the cosine, decides.
ALIGNED_FLOOR = 0.3
SAME_AFTER_ALIGNMENT = "same after acronym alignment"
SIMILARITY = "similarity"


def judge(query: str, cached: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """May the answer cached for `cached` be served for `query` (both in question form,
    their embeddings `similarity` apart)? Returns (served, why): on a refusal the rule that
    refused, on a hit what accepted it (SAME_AFTER_ALIGNMENT or SIMILARITY).

    1. Acronyms on one side spelled out on the other are aligned (normalize.align_texts).
    2. Exact rules (`hard_reason`) refuse, whatever the similarity.
    3. The same content words after alignment: served from ALIGNED_FLOOR up.
    4. Otherwise: served at `threshold` or above, unless a name differs (`soft_reason`)."""
    a, b, aligned = align_texts(query, cached)
    reason = hard_reason(a, b)
    if reason is not None:
        return False, reason
    if aligned and similarity >= ALIGNED_FLOOR and Counter(_content(a)) == Counter(_content(b)):
        return True, SAME_AFTER_ALIGNMENT
    if similarity < threshold:
        return False, "below threshold"
    reason = soft_reason(a, b)
    if reason is not None:
        return False, reason
    return True, SIMILARITY


def verify(query: str, cached: str, similarity: float = 1.0, threshold: float = 0.925) -> Verdict:
    """`judge` on two raw questions (put in question form first)."""
    served, why = judge(question_form(query), question_form(cached), similarity, threshold)
    return Verdict(served, None if served else why)
