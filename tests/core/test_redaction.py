"""Redaction: every kind, however it is written, never survives; numbers that only look like PII do.

Property tests generate valid PII (Luhn-valid cards in any grouping, IBANs with correct check digits, AWS keys,
internationalised emails) inside arbitrary text, and assert that the value is gone from what is kept.
"""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import iban

from workbench.config import AgentConfig
from workbench.errors import ConfigError
from workbench.redaction import KINDS, luhn_valid, redact


@pytest.mark.parametrize(
    "text, expected",
    [
        ("card 4111.1111.1111.1111 please", "card [CARD] please"),
        ("card 4111  1111  1111  1111 please", "card [CARD] please"),
        ("card 4111 . 1111 . 1111 . 1111 ok", "card [CARD] ok"),
        ("amex 3782-822463-10005, visa 4111111111111111", "amex [CARD], visa [CARD]"),
        ("ref 12 4111 1111 1111 1111 ok", "ref 12 [CARD] ok"),  # a number before the card does not hide it
        ("card 4111.1111.1111.1112 is not valid", "card 4111.1111.1111.1112 is not valid"),  # fails Luhn: kept
        ("card 4111\u20131111\u20131111\u20131111 ok", "card [CARD] ok"),  # en dashes
        ("card 4111    1111    1111    1111 ok", "card [CARD] ok"),  # runs of spaces
        ("card 4111\n1111\r\n1111\n1111 ok", "card [CARD] ok"),  # a card wrapped over lines
        ("IBAN DE89.3704.0044.0532.0130.00. Next", "IBAN [IBAN]. Next"),
        ("IBAN DE89  3704  0044  0532  0130  00 ok", "IBAN [IBAN] ok"),
        ("mail jörg.müller@bücher.de now", "mail [EMAIL] now"),
        ("write to 用户@例子.广告 or ivan@почта.рф.", "write to [EMAIL] or [EMAIL]."),
        ("punycode a@xn--bcher-kva.xn--p1ai", "punycode [EMAIL]"),
        ("IBAN DE89 3704 0044 0532 0130 00 and more", "IBAN [IBAN] and more"),
        ("iban gb82west12345698765432, thanks", "iban [IBAN], thanks"),
        ("bad IBAN GB82WEST12345698765433 kept", "bad IBAN GB82WEST12345698765433 kept"),  # mod 97 fails
        ("AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "[AWS_KEY] / [AWS_SECRET]"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = [AWS_SECRET]"),
        ("commit 9fceb02d0ae598e95dc970b74767f19372d61af8 landed", "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 landed"),
        ("call +44 20 7946 0958 or (555) 123-4567", "call [PHONE] or [PHONE]"),
        ("IBAN DE89\u00a03704\u00a00044\u00a00532\u00a00130\u00a000 ok", "IBAN [IBAN] ok"),  # no-break spaces
        (
            "card \uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 ok",
            "card [CARD] ok",
        ),  # fullwidth
        ("card \u0664\u0661\u0661\u0661\u066c" + "\u0661" * 12 + " ok", "card [CARD] ok"),  # Arabic-Indic, Arabic separator
        ("card 4111,1111,1111,1111 / 4111_1111_1111_1111 / 4111/1111/1111/1111", "card [CARD] / [CARD] / [CARD]"),
        ("card 4111,1111,1111,1112 fails Luhn", "card 4111,1111,1111,1112 fails Luhn"),
        ("mail jo'hn@example.com, or 'ann@example.com'", "mail [EMAIL], or '[EMAIL]'"),  # an apostrophe inside a name
        (
            "Apollo ran from 1961 to 1972 with 400,000 people; v1.2.3.4 on 2024-01-05",
            "Apollo ran from 1961 to 1972 with 400,000 people; v1.2.3.4 on 2024-01-05",
        ),
    ],
)
def test_redaction_examples(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_thousand_cards_in_one_text_are_all_redacted() -> None:
    """One card found costs no stack frame: 1,400 cards in a run of digits (a poison message) stay below the
    recursion limit, and none survives."""
    text = "4222222222222 " * 1400
    assert redact(text, ["card"]) == "[CARD] " * 1400


def test_kinds_are_selectable_and_checked_by_the_config() -> None:
    text = "jane@example.com DE89 3704 0044 0532 0130 00 AKIAIOSFODNN7EXAMPLE"
    assert redact(text, ["iban"]) == "jane@example.com [IBAN] AKIAIOSFODNN7EXAMPLE"
    assert redact(text, []) == text
    assert AgentConfig().privacy.redact == list(KINDS)
    with pytest.raises(ConfigError, match="privacy.redact.0"):
        AgentConfig.from_dict({"privacy": {"redact": ["passport"]}})


def _luhn_complete(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


SEPARATORS = st.sampled_from(
    [
        " ",
        "  ",
        "    ",
        ".",
        "-",
        " - ",
        " . ",
        "\t",
        "\u00a0",
        "\u2013",
        "\u2014",
        "\n",
        " \n ",
        "",
        ",",
        "_",
        "/",
        "\u3000",
        "\uff0c",
        "\u066c",
    ]
)
DIGITS = st.sampled_from(
    [
        "0123456789",
        "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19",  # ASCII, fullwidth
        "".join(map(chr, range(0x660, 0x66A))),
        "".join(map(chr, range(0x966, 0x970))),
    ]
)  # Arabic-Indic, Devanagari
AROUND = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)


@st.composite
def written_cards(draw: st.DrawFn) -> str:
    body = draw(st.text("0123456789", min_size=12, max_size=18))
    digits = _luhn_complete(body)
    cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), max_size=5)))
    groups = [digits[a:b] for a, b in zip([0, *cuts], [*cuts, len(digits)])]
    out = groups[0]
    for group in groups[1:]:
        out += draw(SEPARATORS) + group
    return out.translate(str.maketrans("0123456789", draw(DIGITS)))


@settings(max_examples=300, deadline=None)
@given(card=written_cards(), before=AROUND, after=AROUND)
def test_no_valid_card_survives(card: str, before: str, after: str) -> None:
    # "; " keeps digits around the card out of its run: "000000000000 0 000000000000" holds several valid windows,
    # the redactor takes the leftmost, and which digits were "the card" is not defined.
    out = redact(f"{before}; {card} ;{after}", ["card"])
    assert card not in out
    assert re.sub(r"\D", "", card) not in re.sub(r"\D", "", out.replace(before, "").replace(after, ""))  # \D: any script


FORMATS = {"DE": "n" * 18, "AT": "n" * 16, "GB": "aaaa" + "n" * 14, "NL": "aaaa" + "n" * 10, "FR": "n" * 10 + "c" * 11 + "nn"}
CHARS = {"n": "0123456789", "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "c": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"}


@st.composite
def written_ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(sorted(FORMATS)))
    bban = "".join(draw(st.sampled_from(CHARS[c])) for c in FORMATS[country])
    number = country + iban.calc_check_digits(country + "00" + bban) + bban
    assert iban.is_valid(number)
    separator = draw(st.sampled_from(["", " ", "  ", ".", "-", "\u00a0", "\u202f"]))
    number = separator.join(number[i : i + 4] for i in range(0, len(number), 4))
    return number.lower() if draw(st.booleans()) else number


@settings(max_examples=200, deadline=None)
@given(number=written_ibans(), before=AROUND, after=AROUND)
def test_no_valid_iban_survives(number: str, before: str, after: str) -> None:
    assert number not in redact(f"{before} {number} {after}")


BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.sampled_from(["AKIA", "ASIA"]),
    key_id=st.text(BASE32, min_size=16, max_size=16),
    secret=st.text(BASE64, min_size=40, max_size=40),
    context=st.sampled_from(["aws_secret_access_key = ", "SecretAccessKey: ", "AWS secret ", "{key} "]),
    before=AROUND,
    after=AROUND,
)
def test_no_aws_key_survives(prefix: str, key_id: str, secret: str, context: str, before: str, after: str) -> None:
    key = prefix + key_id
    out = redact(f"{before} {key} {context.format(key=key)}{secret} {after}", ["aws_key"])
    assert key not in out and secret not in out


LETTERS = st.characters(categories=("Ll", "Lu", "Lo"), exclude_characters="ǅǈǋǲ")


@settings(max_examples=300, deadline=None)
@given(
    local=st.text(st.one_of(LETTERS, st.sampled_from("0123456789._+-")), min_size=1, max_size=20).filter(
        lambda s: s[0].isalnum()
    ),
    labels=st.lists(st.text(LETTERS, min_size=1, max_size=12), min_size=1, max_size=3),
    tld=st.text(LETTERS, min_size=2, max_size=6),
    before=AROUND,
    after=AROUND,
)
def test_no_email_survives(local: str, labels: list[str], tld: str, before: str, after: str) -> None:
    email = f"{local}@{'.'.join(labels)}.{tld}"
    assert email not in redact(f"{before} {email} {after}", ["email"])
