"""Personal data written to get past a pattern (issue "Hardening"): a card number with spaced,
dotted, full-width or zero-width-split digits, or split over two lines; an e-mail address
spelled out ("maria at example dot com", "[at]", "(at)", " AT ", a full-width "＠"); SSNs and
phone numbers in the same forms. Sent through the guarded service, none of them reaches the
upstream (the chat call or the moderation call), the cache or the logs, and the client gets
its own form back, character for character.

`make test` runs one case per form; `--soak` (make soak) adds every combination of value,
separator, digit style and place in the request.
"""

from __future__ import annotations

import itertools
import json
import unicodedata
from dataclasses import dataclass

import pytest

from tests.support import chat_requests, parse_sse, services_of, upstream_text


@dataclass(frozen=True)
class Form:
    id: str
    text: str  # what the client writes
    value: str  # the personal data in it, exactly as written
    entity: str  # the placeholder type it must become

    @property
    def placeholder(self) -> str:
        return f"<{self.entity}_1>"


def form(id: str, template: str, value: str, entity: str) -> Form:
    return Form(id, template.format(value), value, entity)


FW = str.maketrans("0123456789", "０１２３４５６７８９")  # full-width digits
ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")  # Arabic-Indic digits
ZW = "\u200b"

SHORT = [
    form(
        "card spaced digits", "My card is {}, thanks.", " ".join("4111111111111111"), "CREDIT_CARD"
    ),
    form(
        "card full-width",
        "Card {} was charged twice.",
        "４１１１ １１１１ １１１１ １１１１",
        "CREDIT_CARD",
    ),
    form(
        "card full-width, no spaces",
        "Pay with {} for the H100.",
        "４１１１１１１１１１１１１１１１",
        "CREDIT_CARD",
    ),
    form("card dots", "Use {} for the L40S order.", "5500.0000.0000.0004", "CREDIT_CARD"),
    form(
        "card no-break spaces",
        "Visa {} please.",
        "4012\u00a08888\u00a08888\u00a01881",
        "CREDIT_CARD",
    ),
    form(
        "card zero-width",
        "Card {} declined.",
        ZW.join(["6011", "1111", "1111", "1117"]),
        "CREDIT_CARD",
    ),
    form(
        "card over a line break",
        "My card:\n{}\nfor the Jetson kits.",
        "4111 1111\n1111 1111",
        "CREDIT_CARD",
    ),
    form(
        "card mixed widths",
        "The number is {} on the invoice.",
        "4111 １１１１ 1111 １１１１",
        "CREDIT_CARD",
    ),
    form("card en dashes", "Charge {} now.", "5555\u20135555\u20135555\u20134444", "CREDIT_CARD"),
    form(
        "email spelled out",
        "Write to {} about the H100 order.",
        "maria at example dot com",
        "EMAIL_ADDRESS",
    ),
    form(
        "email [at]",
        "Send the logs to {}, please.",
        "j.okafor[at]datacenter-ops.io",
        "EMAIL_ADDRESS",
    ),
    form(
        "email (at) (dot)",
        "Reach me at {} for the Grafana login.",
        "lucia (at) contoso (dot) com",
        "EMAIL_ADDRESS",
    ),
    form("email AT", "Mail {} about Slurm.", "kenji AT example.jp", "EMAIL_ADDRESS"),
    form("email full-width at", "Email {} the quote.", "derek.mills＠gmail.com", "EMAIL_ADDRESS"),
    form(
        "email zero-width",
        "The trace goes to {}.",
        f"o.kow{ZW}alski@research{ZW}.pl",
        "EMAIL_ADDRESS",
    ),
    form("ssn full-width", "My SSN is {}.", "５３６-２２-１９８４", "US_SSN"),
    form("ssn spaced digits", "My SSN is {} for the export form.", " ".join("432771290"), "US_SSN"),
    form("ssn over a line break", "Social security number {}, sorry.", "501 34\n7788", "US_SSN"),
    form("phone full-width", "Call me at {} tonight.", "４１５-５５５-０１３２", "PHONE_NUMBER"),
    form("phone over a line break", "Call me at {} tonight.", "415 555\n0132", "PHONE_NUMBER"),
    form(
        "name with zero-width",
        "Hi, I'm {} and the node is down.",
        f"Ma{ZW}ria Gar{ZW}cia",
        "PERSON",
    ),
]


# -- the long run's variants ------------------------------------------------------------

CARDS = {
    "4111111111111111": [4, 4, 4, 4],
    "5500000000000004": [4, 4, 4, 4],
    "378282246310005": [4, 6, 5],
    "6011111111111117": [4, 4, 4, 4],
    "4012888888881881": [4, 4, 4, 4],
}
SEPARATORS = {
    "space": " ",
    "dot": ".",
    "dash": "-",
    "nbsp": "\u00a0",
    "thin space": "\u2009",
    "narrow nbsp": "\u202f",
    "en dash": "\u2013",
    "nb hyphen": "\u2011",
    "zero-width": ZW,
    "space+zero-width": " " + ZW,
    "line break": "\n",
    "spaced dash": " - ",
    "slash": "/",
    "underscore": "_",
}
DIGITS = {
    "ascii": lambda s: s,
    "full-width": lambda s: s.translate(FW),
    "mixed": lambda s: "".join(c.translate(FW) if i % 2 else c for i, c in enumerate(s)),
    "arabic-indic": lambda s: s.translate(ARABIC),
    "zero-width inside": lambda s: ZW.join(s),
}
CARD_TEMPLATES = [
    "My card is {}, thanks.",
    "{}",
    "Pay with {} for the H100 order.",
    "card:\n{}\nexp 12/27",
]


def groups(number: str, sizes: list[int]) -> list[str]:
    out, i = [], 0
    for n in sizes:
        out.append(number[i : i + n])
        i += n
    return out


def soak_forms() -> list[Form]:
    out: list[Form] = []
    combos = itertools.product(
        CARDS.items(), SEPARATORS.items(), DIGITS.items(), ["grouped", "one by one"]
    )
    for k, ((number, sizes), (sep_name, sep), (style, restyle), layout) in enumerate(combos):
        if style == "zero-width inside" and sep_name == "zero-width":
            continue
        parts = groups(number, sizes) if layout == "grouped" else list(number)
        value = sep.join(restyle(p) for p in parts)
        template = CARD_TEMPLATES[k % len(CARD_TEMPLATES)]
        out.append(
            form(f"card {number[:4]} {layout} {sep_name} {style}", template, value, "CREDIT_CARD")
        )
    for ssn, sep_name, style in itertools.product(
        ["536221984", "432771290", "219099999"],
        ["space", "dot", "dash", "nbsp", "en dash", "zero-width", "line break", "slash"],
        ["ascii", "full-width", "mixed"],
    ):
        sep, restyle = SEPARATORS[sep_name], DIGITS[style]
        for layout, parts in (("3-2-4", groups(ssn, [3, 2, 4])), ("one by one", list(ssn))):
            value = sep.join(restyle(p) for p in parts)
            out.append(
                form(f"ssn {ssn[:3]} {layout} {sep_name} {style}", "My SSN is {}.", value, "US_SSN")
            )
    for phone, sep_name, style in itertools.product(
        ["4155550132", "2125550147", "6175550188"],
        ["space", "dot", "dash", "nbsp", "en dash", "line break"],
        ["ascii", "full-width"],
    ):
        sep, restyle = SEPARATORS[sep_name], DIGITS[style]
        for layout, parts in (("3-3-4", groups(phone, [3, 3, 4])), ("one by one", list(phone))):
            value = sep.join(restyle(p) for p in parts)
            out.append(
                form(
                    f"phone {phone[:3]} {layout} {sep_name} {style}",
                    "Call me at {} tonight.",
                    value,
                    "PHONE_NUMBER",
                )
            )
    ats = {
        "@": "@",
        "spaced @": " @ ",
        "[at]": "[at]",
        "(at)": "(at)",
        "{at}": "{at}",
        "spaced [at]": " [at] ",
        "spaced (at)": " (at) ",
        "AT": " AT ",
        "at": " at ",
        "full-width @": "＠",
        "small @": "﹫",
    }
    dots = {
        ".": ".",
        "dot": " dot ",
        "[dot]": "[dot]",
        "(dot)": "(dot)",
        "DOT": " DOT ",
        "spaced [dot]": " [dot] ",
        "full-width .": "．",
    }
    for (user, host), (at_name, at), (dot_name, dot) in itertools.product(
        [
            ("maria.garcia", ["example", "com"]),
            ("j_okafor", ["datacenter-ops", "io"]),
            ("kenji", ["example", "co", "jp"]),
        ],
        ats.items(),
        dots.items(),
    ):
        if at_name == "at" and dot_name in (".", "full-width .") and user == "kenji":
            continue  # "kenji at example.co.jp": the documented limit (plain English shape)
        if at_name == "@" and dot_name == ".":
            continue  # the plain form: covered by every other test
        value = user.replace(".", dot) + at + dot.join(host)
        out.append(
            form(
                f"email {user} {at_name} {dot_name}",
                "Please write to {} today.",
                value,
                "EMAIL_ADDRESS",
            )
        )
    return out


def pytest_generate_tests(metafunc):
    if "pii_form" in metafunc.fixturenames:
        cases = SHORT + (soak_forms() if metafunc.config.getoption("--soak") else [])
        metafunc.parametrize("pii_form", cases, ids=[c.id for c in cases])
    if "place_form" in metafunc.fixturenames:
        cases = SHORT if metafunc.config.getoption("--soak") else SHORT[:3] + SHORT[9:12]
        metafunc.parametrize("place_form", cases, ids=[c.id for c in cases])


# -- helpers ----------------------------------------------------------------------------


def renderings(value: str) -> set[str]:
    """The ways a leaked value could be written down: as sent, normalized (NFKC, no zero-width
    characters), and each of those JSON-escaped (the logs and the cache write JSON)."""
    plain = "".join(
        c for c in unicodedata.normalize("NFKC", value) if unicodedata.category(c) != "Cf"
    )
    found = {value, plain}
    return found | {json.dumps(v)[1:-1] for v in found}


def assert_nowhere(value: str, *places: str) -> None:
    for rendering in renderings(value):
        for place in places:
            assert rendering not in place, f"{rendering!r} leaked"


def cache_contents(server) -> str:
    """Every key of the guarded service's Redis and every string value (cache entries are
    JSON: decoded). The other keys (vector sets, expiry sets) hold only entry ids."""
    from redis.exceptions import ResponseError

    redis = services_of(server.app).redis

    async def dump() -> str:
        out = []
        async for key in redis.scan_iter(count=1000):
            out.append(key.decode())
            try:
                raw = (await redis.get(key) or b"").decode(errors="replace")
            except ResponseError:  # not a string
                continue
            try:
                raw = json.dumps(json.loads(raw), ensure_ascii=False)
            except ValueError:
                pass
            out.append(raw)
        return "\n".join(out)

    return server.run_in_loop(dump())


def v1(guarded, messages, **extra):
    return guarded.post(
        "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": messages, **extra}
    )


# -- the tests --------------------------------------------------------------------------


def test_a_written_form_never_leaves_and_comes_back_as_written(
    guarded, guarded_server, mock, captured, pii_form
):
    f = pii_form
    mock.state.script_answer(f"Noted: {f.placeholder}.")
    r = v1(guarded, [{"role": "user", "content": f.text}])
    assert r.status_code == 200, r.text
    # The upstream saw the client's text with the placeholder exactly where the value was.
    [call] = chat_requests(mock)
    assert call.body["messages"][-1]["content"] == f.text.replace(f.value, f.placeholder)
    # The client gets back its own form of the value, character for character.
    assert r.json()["choices"][0]["message"]["content"] == f"Noted: {f.value}."
    cached = cache_contents(guarded_server)
    assert f"Noted: {f.placeholder}." in cached  # the entry is there, in its redacted form
    assert_nowhere(f.value, upstream_text(mock), cached, "\n".join(captured))


def test_a_written_form_is_masked_in_every_place_a_client_can_put_it(
    guarded, guarded_server, mock, captured, place_form, place
):
    f = place_form
    question = "What is HBM3?"
    messages = {
        "name": [{"role": "user", "content": question, "name": f.text}],
        "extra key of a part": [
            {"role": "user", "content": [{"type": "text", "text": question, "note": f.text}]}
        ],
        "an id deep in a part": [
            {
                "role": "user",
                "content": [{"type": "text", "text": question, "extra": {"id": f.text}}],
            }
        ],
        "history": [
            {"role": "user", "content": f.text},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": question},
        ],
        "system message": [
            {"role": "system", "content": f.text},
            {"role": "user", "content": question},
        ],
    }[place]
    r = v1(guarded, messages)
    assert r.status_code == 200, r.text
    assert f.placeholder in upstream_text(mock)
    assert_nowhere(
        f.value, upstream_text(mock), cache_contents(guarded_server), "\n".join(captured)
    )


@pytest.fixture(
    params=["name", "extra key of a part", "an id deep in a part", "history", "system message"]
)
def place(request):
    return request.param


@pytest.mark.parametrize("f", [SHORT[1], SHORT[9]], ids=[SHORT[1].id, SHORT[9].id])
def test_a_written_form_is_restored_as_written_in_a_stream(guarded, mock, f):
    mock.state.script_answer(f"Noted: {f.placeholder}, and more text after it.")
    with guarded.stream("POST", "/chat/stream", json={"message": f.text}) as r:
        assert r.status_code == 200
        tokens = [e.data for e in parse_sse(r.iter_lines()) if e.event == "token"]
    assert "".join(tokens) == f"Noted: {f.value}, and more text after it."
    assert_nowhere(f.value, upstream_text(mock))


def test_a_cached_answer_never_carries_one_clients_written_form_to_another(guarded, mock):
    """The issue's second report: a spelled-out address went upstream raw, and a cache hit
    later served that answer to another request."""
    mock.state.script_answer("I will write to <EMAIL_ADDRESS_1> about the H100 order.")
    first = v1(
        guarded,
        [{"role": "user", "content": "Write to maria at example dot com about the H100 order."}],
    )
    second = v1(
        guarded,
        [{"role": "user", "content": "Write to tom.becker@example.org about the H100 order."}],
    )
    assert first.headers["x-cache"] == "MISS" and second.headers["x-cache"] == "HIT"
    assert len(chat_requests(mock)) == 1
    assert (
        second.json()["choices"][0]["message"]["content"]
        == "I will write to tom.becker@example.org about the H100 order."
    )
    assert "maria" not in second.text


def test_pass_through_fields_are_masked_or_refused(guarded, mock):
    values = {
        "user": "maria.garcia@example.com",
        "stop": ["ask Tom Becker"],
        # an "id" or "type" below the top of a field is text, not structure
        "metadata": {"card": "4111 1111 1111 1111", "id": "536-22-1984"},
        "tools_note": {"type": "wei.zhang@example.org"},
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "answer",
                "schema": {"type": "object", "description": "for SSN 536-22-1984"},
            },
        },
    }
    r = v1(guarded, [{"role": "user", "content": "What is HBM3?"}], **values)
    if r.status_code == 400:  # refused, naming the field: fine too
        assert chat_requests(mock) == []
        return
    assert r.status_code == 200, r.text
    for value in (
        "maria.garcia@example.com",
        "Tom Becker",
        "4111 1111 1111 1111",
        "536-22-1984",
        "wei.zhang@example.org",
    ):
        assert_nowhere(value, upstream_text(mock))
