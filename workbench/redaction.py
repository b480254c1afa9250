"""PII redaction before anything is persisted or logged: emails (IDN too), phone numbers, card numbers
(Luhn-checked, in any script's digits, any grouping by spaces, line breaks, dots, commas, underscores, slashes or
dashes of any kind), IBANs (mod-97 and country format checked; grouped by spaces of any kind, dots or dashes) and
AWS keys.

Why patterns and checksums, not Presidio: the redactor runs on every event (question, answer and prompt), in the
worker and in the Lambda bundle. presidio-analyzer 2.2.366 pulls in spaCy (375 MB installed with its dependencies);
importing its pattern recognizers loads spaCy and took 17-20 s here; its phone recognizer took 57 ms a call on
500 characters; its email recognizer fetches the public suffix list at run time (offline it logs a traceback); and
its card recognizer misses dotted numbers. So candidates are found with regular expressions and each is confirmed
by a checksum: Luhn for cards, and python-stdnum's IBAN check (maintained, pure Python, no dependencies; imported
only when a text holds an IBAN candidate). Cost against the three ASCII regexes this replaced, in one run:
`python benchmarks/redaction_cost.py` (docs/benchmarks.md).
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

KINDS = ("email", "phone", "card", "iban", "aws_key")

_DOT = r"[.\u3002\uff0e\uff61]"  # IDNA treats the ideographic and fullwidth full stops as dots
_LABEL = r"[^\W_](?:[\w\u0300-\u036f-]*[^\W_\-])?"
_LOCAL = r"[\w\u0300-\u036f.!#$%&*+=?^~-]"  # RFC 5322 also allows ' ` { | } /, which in text are delimiters...
# ...but an apostrophe inside a name is part of it (o'brien@example.com), so it is taken between two local characters.
EMAIL = re.compile(
    rf"(?<!{_LOCAL}){_LOCAL}(?:{_LOCAL}|'(?={_LOCAL}))*@(?:{_LABEL}{_DOT})+(?:xn--[\w-]+|[^\W\d_][\w\u0300-\u036f]+)"
)
_GAP = "[ \t\u00a0\u2007\u202f\u3000\r\n]"  # spaces of any kind, and line breaks: a card wrapped over lines is a card
# Hyphens, en and em dashes, the minus sign, dots, commas, underscores and slashes, ASCII, fullwidth or Arabic.
_DASH = "[-.,_/\u2010-\u2015\u2212\uff0c\uff0d\uff0e\uff0f\uff3f\u060c\u066b\u066c]"
# Each pattern starts with a character (not a look-behind), so the regex engine can skip ahead: 4x faster. Gaps are
# bounded (8), so a run of separators costs linear time. Digits are any script's (\d: fullwidth, Arabic-Indic...),
# which int() and so the Luhn check read as their values.
DIGIT_RUN = re.compile(
    rf"\d(?<!\d\d)(?=(?:\d|{_GAP}|{_DASH}){{12}})\d*"
    rf"(?:(?:{_GAP}{{0,8}}{_DASH}{_GAP}{{0,8}}|{_GAP}{{1,8}})\d+)*"
)
PHONE = re.compile(r"(?=[+(\d])(?<![\w+])\+?\(?\d{1,4}\)?(?:[ .-]?\(?\d{2,4}\)?){2,5}(?!\w)")
_IBAN_GAP = "[ \t\u00a0\u2007\u202f.-]"  # spaces of any kind (a no-break space groups well in print), dots, dashes
IBAN = re.compile(rf"(?<![A-Za-z0-9])[A-Za-z]{{2}}[0-9]{{2}}(?:{_IBAN_GAP}{{0,2}}[A-Za-z0-9]){{11,30}}")
_IBAN_SEPARATORS = re.compile(_IBAN_GAP)
AWS_KEY_ID = re.compile(r"A(?<![A-Za-z0-9]A)(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])")
AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_SECRET_WORDS = ("secret", "aws", "akia", "asia")
_SECRET_CONTEXT = re.compile("|".join(_SECRET_WORDS), re.IGNORECASE)


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def iban_valid(compact: str) -> bool:
    """Mod 97 first (cheap, rules out almost every candidate), then the country's length and format."""
    compact = compact.upper()
    if not 15 <= len(compact) <= 34 or int("".join(str(int(c, 36)) for c in compact[4:] + compact[:4])) % 97 != 1:
        return False
    from stdnum import iban

    return iban.is_valid(compact)


def redact(text: str, kinds: Iterable[str] = KINDS) -> str:
    kinds = set(kinds)
    for kind, scrub in _SCRUBBERS:  # IBANs before cards: an IBAN's digits can pass Luhn
        if kind in kinds:
            text = scrub(text)
    return text


def storable(text: str) -> str:
    """Redacted, with any lone surrogate kept as the text \\udXXX: what SQLite, a JSON log line or a terminal can
    take from text the sender wrote, which may not be encodable."""
    return redact(text).encode("utf-8", "backslashreplace").decode("utf-8")


def _cards(text: str) -> str:
    """A card is 13-19 digits in whole groups of a run: "ref 12 4111.1111.1111.1111" still finds the card."""
    return DIGIT_RUN.sub(lambda m: _card_in_run(m.group()), text)


def _card_in_run(run: str) -> str:
    """Left to right, the longest Luhn-valid window of whole groups from each group; a loop, not recursion: a
    text of a thousand cards must not reach the recursion limit."""
    groups = [(m.start(), m.end()) for m in re.finditer(r"\d+", run)]
    if sum(end - start for start, end in groups) < 13:
        return run
    out, kept, i = [], 0, 0  # kept: where the text not yet copied to `out` starts
    while i < len(groups):
        digits, last = "", None
        for j in range(i, len(groups)):
            digits += run[groups[j][0] : groups[j][1]]
            if len(digits) > 19:
                break
            if len(digits) >= 13 and luhn_valid(digits):
                last = j  # the longest valid window from here
        if last is None:
            i += 1
            continue
        out += [run[kept : groups[i][0]], "[CARD]"]
        kept, i = groups[last][1], last + 1
    return "".join(out) + run[kept:]


def _ibans(text: str) -> str:
    return IBAN.sub(_iban_in_candidate, text)


def _iban_in_candidate(match: re.Match) -> str:
    """The candidate may run into the next word ("DE89 3704 0044 0532 0130 00 and"): try its prefixes, longest first."""
    candidate = match.group()
    ends = [i + 1 for i, ch in enumerate(candidate) if ch.isalnum()]
    for count in range(min(len(ends), 34), 14, -1):
        end = ends[count - 1]
        if iban_valid(_IBAN_SEPARATORS.sub("", candidate[:end])):
            return "[IBAN]" + candidate[end:]
    return candidate


def _emails(text: str) -> str:
    return EMAIL.sub("[EMAIL]", text) if "@" in text else text


def _aws(text: str) -> str:
    """A secret key is any 40 base64 characters, so only one after "secret", "aws" or a key id is taken for one."""
    lowered = text.lower()
    if any(word in lowered for word in _SECRET_WORDS):  # most texts have none: skip the scan
        text = AWS_SECRET.sub(
            lambda m: "[AWS_SECRET]" if _SECRET_CONTEXT.search(text, max(0, m.start() - 60), m.start()) else m.group(), text
        )
    return AWS_KEY_ID.sub("[AWS_KEY]", text)


def _phones(text: str) -> str:
    return PHONE.sub(lambda m: "[PHONE]" if 9 <= len(re.sub(r"\D", "", m.group())) <= 15 else m.group(), text)


_SCRUBBERS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("email", _emails),
    ("iban", _ibans),
    ("aws_key", _aws),
    ("card", _cards),
    ("phone", _phones),
)


# Secrets in URLs (a config's actuator.url, otlp_endpoint): masked wherever a config is shown, logged or tracked.
MASK = "***"
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")  # greedy: a raw @ in a password stays inside
_PARAM = re.compile(r"([?&;#])([^=&;#]*)=([^&;#]+)")
SECRET_PARAM = re.compile(r"token|key|secret|sig|pass|pwd|auth|credential|session|code|jwt|bearer", re.IGNORECASE)
# Host names are case-insensitive and may end in a dot or carry a port: HOOKS.SLACK.COM., hooks.slack.com:443.
_WEBHOOK = re.compile(
    r"^([^:]+://[^/?#]*(?:slack\.com|discord(?:app)?\.com|office(?:365)?\.com)\.?(?::\d*)?"
    r"/+(?:services|workflows|triggers|api/webhooks/\d+|webhook(?:b2)?))/[^?#]+",
    re.IGNORECASE,
)


def mask_urls(text: str) -> str:
    """Credentials, token-like query parameters and webhook path secrets become ***; the rest is kept as written:
    https://u:p@h/x?token=t&page=2 -> https://u:***@h/x?token=***&page=2"""
    return URL.sub(lambda m: _mask_url(m.group()), text) if "://" in text else text


def mask_secrets(value: object) -> object:
    """`mask_urls` over every string of a nested structure (a config dump, a sweep spec)."""
    if isinstance(value, str):
        return mask_urls(value)
    if isinstance(value, dict):
        return {k: mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value


def _mask_url(url: str) -> str:
    url = _USERINFO.sub(
        lambda m: f"{m.group(1)}{m.group(2).split(':', 1)[0] + ':' if ':' in m.group(2) else ''}{MASK}@", url, count=1
    )
    url = _WEBHOOK.sub(lambda m: f"{m.group(1)}/{MASK}", url, count=1)
    return _PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}={MASK}" if SECRET_PARAM.search(m.group(2)) else m.group(), url)
