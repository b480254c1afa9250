"""Run a stream of payloads through an agent: every event is answered or dead-lettered, never dropped."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Iterable

from workbench.deadletter import DeadLetterFile
from workbench.events import parse_payload
from workbench.loop import Agent
from workbench.records import Decision

log = logging.getLogger("workbench.runner")


@dataclass
class RunSummary:
    processed: int = 0
    rejected: int = 0
    decisions: list[Decision] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def run_payloads(agent: Agent, payloads: Iterable[Any], deadletter: DeadLetterFile, progress: bool = False,
                 total: int | None = None) -> RunSummary:
    from tqdm.auto import tqdm

    summary = RunSummary()
    for payload in tqdm(payloads, desc="events", unit="payload", total=total, disable=not progress):
        for parsed in parse_payload(payload):
            if parsed.error:
                _reject(summary, deadletter, parsed.raw, parsed.error, parsed.source, "parse")
                continue
            try:
                summary.decisions.append(agent.handle(parsed.event))
                summary.processed += 1
            except Exception as exc:  # noqa: BLE001 - one failing event must not stop the worker
                log.exception("event %s failed", parsed.event.event_id)
                _reject(summary, deadletter, parsed.raw, f"{type(exc).__name__}: {exc}", parsed.source, "handle")
    return summary


def _reject(summary: RunSummary, deadletter: DeadLetterFile, raw: Any, reason: str, source: str, stage: str) -> None:
    deadletter.put(raw, reason, source, stage)
    summary.rejected += 1
    summary.reasons.append(reason)
