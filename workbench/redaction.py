"""PII redaction before anything is persisted or logged: emails, phone numbers, card numbers (Luhn-checked)."""

from __future__ import annotations

import re
from typing import Iterable

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
PHONE = re.compile(r"(?<![\w+])\+?\(?\d{1,4}\)?(?:[ .-]?\(?\d{2,4}\)?){2,5}(?!\w)")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def redact(text: str, kinds: Iterable[str] = ("email", "card", "phone")) -> str:
    kinds = set(kinds)
    if "email" in kinds:
        text = EMAIL.sub("[EMAIL]", text)
    if "card" in kinds:
        text = CARD.sub(lambda m: "[CARD]" if luhn_valid(re.sub(r"\D", "", m.group())) else m.group(), text)
    if "phone" in kinds:
        text = PHONE.sub(lambda m: "[PHONE]" if 9 <= len(re.sub(r"\D", "", m.group())) <= 15 else m.group(), text)
    return text
