"""Recognizers for values written to get past a pattern: digits with separators between them
("4 1 1 1 ...", "4111.1111.1111.1111", a card split over two lines) and e-mail addresses
spelled out ("maria at example dot com", "maria[at]example[dot]com", "maria (at) example.com").

They read the normalized text (normalize.py): full-width forms, odd spaces and dashes and
zero-width characters are already folded, so only the separators and the words are left.

Why by hand: Presidio's patterns expect the usual shapes (a card as 4-4-4-4 with "-" or " ",
an SSN as 3-2-4 with one separator used twice, an address with "@" and "."), and no library
we know of reads spelled-out addresses. What keeps hardware text out (part numbers, version
strings, lane counts, lists of sizes and clocks; measured in docs/SAFETY.md):
- a card number has an issuer's prefix and length and passes the Luhn check, and its groups
  look like a card's (one size, one digit each, or Amex's 4-6-5);
- an SSN has a valid area, group and serial, grouped 3-2-4 (or one digit at a time after
  "SSN" or "social security", as Presidio asks of nine digits in a row);
- a number that is only part of a longer run of numbers counts only after a word that says
  what it is ("card", "SSN");
- an address ends in a real public suffix (tldextract's bundled list), and the bare word
  "at" counts only where the rest looks like an address (see SpelledEmailRecognizer).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import pairwise
from typing import TYPE_CHECKING

from presidio_analyzer import EntityRecognizer, RecognizerResult

if TYPE_CHECKING:
    from presidio_analyzer.nlp_engine import NlpArtifacts

# -- digits with separators ------------------------------------------------------------

# A digit group not glued to a letter ("x16", "H100", "16GB" are not groups).
_GROUP = re.compile(r"(?<![^\W_])[0-9]+(?![^\W_])")
# What may stand between two groups of one number: spaces, line breaks, dots, dashes, slashes,
# underscores; up to three of them (" - ", "\r\n").
_SEPARATOR = re.compile(r"[ \t\r\n.\-/_]{1,3}")
_SSN_CONTEXT = re.compile(r"\b(?:ssn|ssns|social\s+security|social)\b", re.IGNORECASE)
_CARD_CONTEXT = re.compile(
    r"\b(?:cards?|credit|debit|visa|mastercard|amex|american\s+express|"
    r"discover|jcb|diners|maestro|unionpay|cc|pan|pay|paid|charged?|"
    r"billing)\b",
    re.IGNORECASE,
)


def digit_runs(text: str) -> list[list[tuple[int, int]]]:
    """The spans of the digit groups of `text`, grouped into runs: groups with only
    separators between them."""
    runs: list[list[tuple[int, int]]] = []
    last_end = -1
    for m in _GROUP.finditer(text):
        if runs and _SEPARATOR.fullmatch(text, last_end, m.start()):
            runs[-1].append(m.span())
        else:
            runs.append([m.span()])
        last_end = m.end()
    return runs


def luhn_valid(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _card_prefix_fits(number: str) -> bool:
    """The issuer prefixes and lengths of the card networks (Visa, Mastercard, Amex, Diners,
    JCB, Discover, UnionPay, Maestro, RuPay)."""
    n, first = len(number), number[0]
    if first == "4":
        return n in (13, 16, 19)
    if number[:2] in ("34", "37"):
        return n == 15
    if number[:2] in ("30", "36", "38", "39"):
        return n in (14, 16)
    if first in "356":
        return 16 <= n <= 19
    return "2221" <= number[:4] <= "2720" and n == 16


def _grouped_like_a_card(sizes: list[int]) -> bool:
    """One digit at a time ("4 1 1 1 ..."), one block, groups of one size with a shorter or
    equal last one ("4111 1111 1111 1111", "41 11 11 ...", "4111 1111 1111 1111 111"), or
    Amex's and Diners' 4-6-5 and 4-6-4. Lists of numbers are grouped otherwise: "2048 4096
    8192 16384", "16 16 8 8 4 4"."""
    if len(sizes) == 1 or set(sizes) == {1} or sizes in ([4, 6, 5], [4, 6, 4]):
        return True
    return min(sizes) > 1 and len(set(sizes[:-1])) == 1 and sizes[-1] <= sizes[0]


def _is_card(number: str, sizes: list[int]) -> bool:
    return (
        _card_prefix_fits(number)
        and len(set(number)) > 1
        and _grouped_like_a_card(sizes)
        and luhn_valid(number)
    )


def _is_ssn(number: str) -> bool:
    area, group, serial = number[:3], number[3:5], number[5:]
    return (
        len(number) == 9
        and area not in ("000", "666")
        and area[0] != "9"
        and group != "00"
        and serial != "0000"
        and len(set(number)) > 1
    )


Accept = Callable[[int, int, str, list[int]], bool]


def _windows(
    text: str, run: list[tuple[int, int]], max_digits: int, accept: Accept
) -> list[tuple[int, int]]:
    """Spans of consecutive groups of a run that `accept(i, j, digits, sizes)` takes,
    longest first, not overlapping. `sizes` are the group sizes; where only a line break
    splits two groups, also with those two counted as one (a number wrapped mid-group:
    "4111 11\n11 1111 ...")."""
    groups = [text[s:e] for s, e in run]
    wrapped = [text[a[1] : b[0]] in ("\n", "\r\n") for a, b in pairwise(run)]
    found: list[tuple[int, int, int]] = []  # (digits, i, j)
    for i in range(len(run)):
        number = ""
        sizes: list[int] = []
        joined: list[int] = []
        for j in range(i, len(run)):
            number += groups[j]
            if len(number) > max_digits:
                break
            sizes.append(len(groups[j]))
            if j > i and wrapped[j - 1]:
                joined[-1] += len(groups[j])
            else:
                joined.append(len(groups[j]))
            if accept(i, j, number, sizes) or (joined != sizes and accept(i, j, number, joined)):
                found.append((len(number), i, j))
    taken = [False] * len(run)
    chosen: list[tuple[int, int]] = []
    for _, i, j in sorted(found, key=lambda f: (-f[0], f[1])):
        if not any(taken[i : j + 1]):
            taken[i : j + 1] = [True] * (j + 1 - i)
            chosen.append((i, j))
    return [(run[i][0], run[j][1]) for i, j in sorted(chosen)]


def _is_nanp_phone(number: str, sizes: list[int]) -> bool:
    """A North American number, 3-3-4 (after an optional 1) or one digit at a time."""
    if number.startswith("1") and sizes[:1] == [1] and len(number) == 11:
        number, sizes = number[1:], sizes[1:]
    return (
        len(number) == 10
        and number[0] in "23456789"
        and number[3] in "23456789"
        and (sizes == [3, 3, 4] or sizes == [1] * 10)
    )


class SeparatedDigitsRecognizer(EntityRecognizer):
    """Card numbers (Luhn-checked), US SSNs and phone numbers written with any separators
    between the digits. A phone number found here still has to pass the phone rule of
    `recognizers.keep` (a phone shape or a context word), as Presidio's own finds do."""

    def __init__(self) -> None:
        super().__init__(
            supported_entities=["CREDIT_CARD", "US_SSN", "PHONE_NUMBER"], name="SeparatedDigits"
        )

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for run in digit_runs(text):
            if "CREDIT_CARD" in entities:
                results += [
                    RecognizerResult("CREDIT_CARD", s, e, 0.9)
                    for s, e in _windows(text, run, 19, self._card(text, run))
                ]
            if "US_SSN" in entities:
                results += [
                    RecognizerResult("US_SSN", s, e, 0.6)
                    for s, e in _windows(text, run, 9, self._ssn(text, run))
                ]
            if "PHONE_NUMBER" in entities:
                results += [
                    RecognizerResult("PHONE_NUMBER", s, e, 0.5) for s, e in self._phones(text, run)
                ]
        return results

    # A number that is only part of a run of numbers ("sizes 2048 4096 8192 16384 32768")
    # is taken only after a word that says what it is ("card 4111 1111 1111 1111 12/27"):
    # one in ten runs of digits passes the Luhn check by chance, and a list offers many.

    @staticmethod
    def _card(text: str, run: list[tuple[int, int]]) -> Accept:
        def accept(i: int, j: int, number: str, sizes: list[int]) -> bool:
            return _is_card(number, sizes) and (
                _whole(i, j, run) or _said(_CARD_CONTEXT, text, run[i][0])
            )

        return accept

    @staticmethod
    def _ssn(text: str, run: list[tuple[int, int]]) -> Accept:
        def accept(i: int, j: int, number: str, sizes: list[int]) -> bool:
            if not _is_ssn(number):
                return False
            said = _said(_SSN_CONTEXT, text, run[i][0])
            if sizes == [3, 2, 4]:
                return _whole(i, j, run) or said
            # Nine digits one by one are nine digits in a row: as for "536221984", only when
            # the text says just before that it is an SSN.
            return sizes == [1] * 9 and said

        return accept

    @staticmethod
    def _phones(text: str, run: list[tuple[int, int]]) -> list[tuple[int, int]]:
        # "+" and a country code: the whole run is the number (8 to 15 digits, E.164).
        if re.search(r"\+\s*\Z", text[max(0, run[0][0] - 3) : run[0][0]]):
            digits = sum(e - s for s, e in run)
            if 8 <= digits <= 15:
                plus = text.rindex("+", 0, run[0][0])
                return [(plus, run[-1][1])]
        # Otherwise a North American number that is the whole run: "256 512 1024" inside
        # "batch sizes 32 64 128 256 512 1024" is a list, not a phone.
        return _windows(
            text, run, 11, lambda i, j, n, sizes: _whole(i, j, run) and _is_nanp_phone(n, sizes)
        )


def _whole(i: int, j: int, run: list[tuple[int, int]]) -> bool:
    return i == 0 and j == len(run) - 1


def _said(context: re.Pattern[str], text: str, start: int) -> bool:
    """Does a context word stand in the 40 characters before `start`?"""
    return bool(context.search(text, max(0, start - 40), start))


# -- e-mail addresses spelled out ------------------------------------------------------

_OPEN, _CLOSE = r"[\[({<]", r"[\])}>]"
# "@" with spaces around it, "[at]" "(at)" "{at}" "<at>" "(@)", or the word "at".
_AT = re.compile(rf"\s*{_OPEN}\s*(?:at|@)\s*{_CLOSE}\s*|\s*@\s*|\s+at\s+", re.IGNORECASE)
_SPELLED_DOT = rf"\s*{_OPEN}\s*(?:dot|\.)\s*{_CLOSE}\s*|\s+dot\s+"
_DOT = re.compile(rf"(?:{_SPELLED_DOT}|\.|\s+\.\s+)", re.IGNORECASE)
_LABEL = r"[^\W_](?:[\w%+\-]*[^\W_])?"
_LOCAL = re.compile(
    rf"(?<![\w.%+\-])(?:{_LABEL})(?:(?:{_SPELLED_DOT}|\.)(?:{_LABEL}))*\Z", re.IGNORECASE
)
_DOMAIN_LABEL = re.compile(r"[^\W_](?:[\w\-]*[^\W_])?")
_HANDLE_MARK = re.compile(r"[0-9._+%\-]")
_MAX_LOCAL, _MAX_DOMAIN = 64, 253


class SpelledEmailRecognizer(EntityRecognizer):
    """E-mail addresses with the "@" or the dots written out, bracketed or spaced.

    The bare word "at" is also plain English ("the driver is available at nvidia.com"), so
    with it the address must look like one: the dot spelled out too ("at example dot com"),
    the word in capitals ("maria AT example.com"), or a local part with a digit or a
    "._+-" in it ("j.doe at example.com"). `is_domain` says whether a host name ends in a
    real suffix (the same tldextract check as Presidio's own e-mail recognizer)."""

    def __init__(self, is_domain: Callable[[str], bool]) -> None:
        super().__init__(supported_entities=["EMAIL_ADDRESS"], name="SpelledEmail")
        self.is_domain = is_domain

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if "EMAIL_ADDRESS" not in entities:
            return []
        results: list[RecognizerResult] = []
        taken = 0
        for at in _AT.finditer(text):
            if at.start() < taken:
                continue
            found = self._address(text, at)
            if found:
                results.append(RecognizerResult("EMAIL_ADDRESS", *found, 0.7))
                taken = found[1]
        return results

    def _address(self, text: str, at: re.Match[str]) -> tuple[int, int] | None:
        local = _LOCAL.search(text, max(0, at.start() - _MAX_LOCAL), at.start())
        if not local:
            return None
        domain_end = self._domain_end(text, at.end())
        if domain_end is None:
            return None
        word = at.group().strip()
        if word.lower() == "at" and word != "AT":
            spelled = re.search(_SPELLED_DOT, text[at.end() : domain_end], re.IGNORECASE)
            if not spelled and not _HANDLE_MARK.search(
                re.sub(_SPELLED_DOT, ".", local.group(), flags=re.IGNORECASE)
            ):
                return None
        return local.start(), domain_end

    def _domain_end(self, text: str, start: int) -> int | None:
        """The end of the longest run of labels from `start` that names a real domain."""
        ends, labels, pos = [], [], start
        limit = min(len(text), start + _MAX_DOMAIN)
        while True:
            label = _DOMAIN_LABEL.match(text, pos, limit)
            if not label:
                break
            labels.append(label.group())
            ends.append(label.end())
            dot = _DOT.match(text, label.end(), limit)
            if not dot:
                break
            pos = dot.end()
        for n in range(len(labels), 1, -1):
            if self.is_domain(".".join(labels[:n])):
                return ends[n - 1]
        return None
