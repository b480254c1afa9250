"""Run a file of payloads through the delivery core: every event is answered once or dead-lettered, never dropped.

A rerun of the same file (or a run after a crash) acts on nothing twice: the delivery core's idempotency records
and ledger answer repeats. An event still marked in progress by a killed run is retried once its in-progress
window (the config's `deploy.timeout_s`, as in the Lambda) has passed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from workbench.serve.deadletter import DeadLetterFile
from workbench.serve.delivery import Delivery, Outcome
from workbench.serve.idempotency import renewing
from workbench.types import Decision


@dataclass
class RunSummary:
    processed: int = 0
    duplicates: int = 0
    rejected: int = 0
    decisions: list[Decision] = field(default_factory=list)
    repeats: list[bool] = field(default_factory=list)  # per decision: found (a duplicate event), not made this run
    reasons: list[str] = field(default_factory=list)


def run_payloads(
    delivery: Delivery,
    payloads: Iterable[tuple[str, Any]],
    deadletter: DeadLetterFile,
    *,
    budget_s: float,
    progress: bool = False,
    total: int | None = None,
) -> RunSummary:
    """`payloads` are (source, payload) pairs, the source naming where each came from (e.g. `events.jsonl:7`)."""
    from tqdm.auto import tqdm

    summary, waiting = RunSummary(), []
    with renewing(delivery.persistence, budget_s):  # a slow event stays this run's: another process's copy waits
        for source, payload in tqdm(payloads, desc="events", unit="payload", total=total, disable=not progress):
            delivery.context.set(budget_s)
            for outcome in delivery.deliver(payload, source):
                if outcome.status == "in_progress":
                    waiting.append(outcome)
                else:
                    _count(summary, deadletter, outcome)
        if waiting:  # left in progress by a run that died: theirs expires at most `budget_s` after it started
            time.sleep(budget_s)
        for outcome in waiting:
            delivery.context.set(budget_s)
            _count(summary, deadletter, delivery.deliver_event(outcome.event, outcome.source, outcome.raw))
    return summary


def _count(summary: RunSummary, deadletter: DeadLetterFile, outcome: Outcome) -> None:
    if outcome.status in ("handled", "duplicate"):
        summary.decisions.append(Decision.from_dict(outcome.decision or {}))
        summary.repeats.append(outcome.status == "duplicate")
        summary.processed += outcome.status == "handled"
        summary.duplicates += outcome.status == "duplicate"
        return
    stage = "parse" if outcome.status == "rejected" else "handle"
    deadletter.put(outcome.raw, outcome.reason, outcome.source, stage)
    summary.rejected += 1
    summary.reasons.append(outcome.reason)
