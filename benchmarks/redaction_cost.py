"""Per-call cost of the redactor, which runs on every event (question, answer and prompt), against the
three ASCII regexes it replaced (email, card with spaces or dashes, phone), in one run.

    python benchmarks/redaction_cost.py [--repeat 1000]

Texts: a 500-character question with no PII, the same with one of each kind of PII, and a 4,000-character
prompt (retrieved passages full of dates and numbers). Rounds alternate between the two redactors, so load on
the machine hits both alike; prints the median microseconds per call and the median ratio of the rounds.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from typing import Callable

from workbench.redaction import KINDS, luhn_valid, redact

PLAIN = (
    "Which team won the championship game that was played in the stadium near the bay, and how many points "
    "did the winning side score in the final quarter of that game? "
) * 4
PII = (
    "I am jörg.müller@bücher.de, card 4111.1111.1111.1111, IBAN DE89 3704 0044 0532 0130 00, phone +44 20 7946 0958, "
    "key AKIAIOSFODNN7EXAMPLE. "
)
TEXTS = {
    "500 chars, no PII": PLAIN[:500],
    "500 chars, every kind": (PII + PLAIN)[:500],
    "4000-char prompt": ("Super Bowl 50 was an American football game played on February 7, 2016. " * 54)[:4000],
}

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d{1,4}\)?(?:[ .-]?\(?\d{2,4}\)?){2,5}(?!\w)")


def baseline(text: str) -> str:
    """The redactor before issue 11: ASCII emails, Luhn-checked cards with spaces or dashes, phones."""
    text = _EMAIL.sub("[EMAIL]", text)
    text = _CARD.sub(lambda m: "[CARD]" if luhn_valid(re.sub(r"\D", "", m.group())) else m.group(), text)
    return _PHONE.sub(lambda m: "[PHONE]" if 9 <= len(re.sub(r"\D", "", m.group())) <= 15 else m.group(), text)


def timed(fn: Callable[[str], str], text: str, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn(text)
    return (time.perf_counter() - start) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    redact(TEXTS["500 chars, every kind"])  # the IBAN check imports python-stdnum once
    print(f"{'text':24} {'before us':>10} {'now us':>8} {'ratio':>6}   now: every kind of {', '.join(KINDS)}")
    for name, text in TEXTS.items():
        before, now = [], []
        for _ in range(args.rounds):
            before.append(timed(baseline, text, args.repeat))
            now.append(timed(redact, text, args.repeat))
        ratio = statistics.median(n / b for n, b in zip(now, before))
        print(f"{name:24} {statistics.median(before):10.1f} {statistics.median(now):8.1f} {ratio:6.2f}")


if __name__ == "__main__":
    main()
