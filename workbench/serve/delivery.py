"""The delivery core: one path from a raw payload to one action, for `run-events`, the worker, the Lambda and the
Step Functions Act step.

    parse (never raises) -> idempotency on (tenant, event_id), Powertools -> propose (embed, retrieve, decide; the
    turn is persisted once per event id) -> commit the decision in the ledger -> record it -> act -> mark acted
    -> escalate (when the decision says so) -> mark escalated

The order makes every step safe to repeat. A crash before the commit leaves nothing but a turn that the retry
finds and keeps; a crash after it leaves a committed decision that the retry records (unless the log holds it)
and acts on without deciding again;
a redelivery long after the idempotency record expired finds the decision acted and does nothing; a failed
escalation is retried alone. Only a crash between an action and its mark, or an action whose outcome its client
could not learn (a read timeout after the receiver got it), can repeat that action, and then with the same
idempotency key (`<tenant>#<event_id>`, `escalation:<tenant>#<event_id>` for an escalation) for the
receiver to drop.

A batch (`Delivery.batch`: the worker's receive, the Lambda's SQS batch) embeds and retrieves for all its events at
once, since those stages read no state; each event then goes through the steps above alone, in order.
"""

from __future__ import annotations

import logging
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal, Sequence

from workbench.events import Event, Parsed, parse_payload
from workbench.loop import Retrieved
from workbench.redaction import redact
from workbench.serve.idempotency import AlreadyInProgress, Deadline, idempotent
from workbench.serve.ledger import Entry, Ledger, ledger_key
from workbench.types import Decision

log = logging.getLogger("workbench.delivery")

Status = Literal["handled", "duplicate", "rejected", "in_progress", "failed"]
Pending = list[tuple[Parsed, Retrieved | None]]  # one payload's records, each event with what its batch retrieved


@dataclass(frozen=True)
class Outcome:
    """What became of one record of a payload. `rejected` is bad input (dead-letter it: retrying cannot help);
    `in_progress` and `failed` are worth retrying."""

    status: Status
    source: str
    raw: Any = None
    event: Event | None = None
    decision: dict[str, Any] | None = None
    reason: str = ""


class Delivery:
    def __init__(self, agent: Any, persistence: Any, ledger: Ledger, *, ttl_s: int = 86400, context: Any = None) -> None:
        """`context` gives Powertools the time left for an attempt (a Lambda context, or a `Deadline`)."""
        self.agent, self.ledger, self.persistence = agent, ledger, persistence
        self.context = context if context is not None else Deadline()
        self._once, self.idempotency_config = idempotent(self._handle, persistence, ttl_s, self.context)

    def deliver(self, payload: Any, source: str) -> list[Outcome]:
        """Every record of `payload` (a line, an SQS body, an SNS message), each with its own outcome."""
        return self.deliver_parsed([(p, None) for p in parse_payload(payload, source=source)])

    @contextmanager
    def batch(self, payloads: Sequence[tuple[Any, str]]) -> Iterator[list[Pending]]:
        """Several (payload, source) pairs (an SQS batch), parsed, with the stages that read no state done for all
        their events at once (`Agent.batch`). Within the block, `deliver_parsed` each payload's records in order:
        every event is still settled on its own, with its own idempotency, ledger entry and outcome."""
        parsed = [parse_payload(payload, source=source) for payload, source in payloads]
        with self.agent.batch([p.event for records in parsed for p in records if p.event]) as retrieved:
            done = iter(retrieved)
            yield [[(p, next(done) if p.event else None) for p in records] for records in parsed]

    def deliver_parsed(self, records: Pending) -> list[Outcome]:
        return [
            self.deliver_event(p.event, p.source, p.raw, retrieved)
            if p.event
            else Outcome("rejected", p.source, p.raw, reason=p.error or "")
            for p, retrieved in records
        ]

    def deliver_event(self, event: Event, source: str, raw: Any = None, retrieved: Retrieved | None = None) -> Outcome:
        try:
            result = self._once(event=event.model_dump(mode="json"), retrieved=retrieved)
        except AlreadyInProgress:
            return Outcome(
                "in_progress",
                source,
                raw,
                event,
                reason=f"event {event.event_id} of tenant {event.tenant} is being handled by another attempt",
            )
        except Exception as exc:  # noqa: BLE001 - one event's failure is its outcome, never the caller's crash
            # A handler's exception text may quote the event ("cannot parse '4111 ...'"): its reason and its logged
            # traceback are redacted, as everything else that is logged or kept.
            log.warning(
                "event failed: %s",
                redact("".join(traceback.format_exception(exc))),
                extra={"correlation_id": event.correlation, "event_id": event.event_id},
            )
            return Outcome("failed", source, raw, event, reason=redact(f"{type(exc).__name__}: {exc}"))
        duplicate = bool(result.pop("duplicate", False))
        return Outcome("duplicate" if duplicate else "handled", source, raw, event, result)

    def _handle(self, data: dict[str, Any], retrieved: Retrieved | None = None) -> dict[str, Any]:
        event = Event.model_validate(data)
        return self.settle(event, lambda: self.agent.propose(event, retrieved=retrieved))

    def settle(self, event: Event, propose: Callable[[], Decision]) -> dict[str, Any]:
        """Commit the decision `propose()` makes (unless one is committed already) and act on it once.
        Also the Step Functions Act step, whose decision was proposed by the steps before it."""
        key = ledger_key(event.tenant, event.event_id)
        entry = self.ledger.get(key)
        if entry is not None and self._done(entry):
            return {**entry.decision, "duplicate": True}  # the idempotency record expired; the ledger did not
        if entry is not None:  # committed by the Reason step, or by an attempt that died before it finished
            decision = Decision.from_dict(entry.decision)
            if not self.agent.recorded(event):
                self.agent.record(decision)
            return self.finish(key, decision, entry)
        decision = propose()
        committed, fresh = self.ledger.claim(key, decision.to_dict())
        if not fresh:  # a concurrent attempt, alive, committed first and acts on it
            return {**committed, "duplicate": True}
        self.agent.record(decision)
        return self.finish(key, decision)

    def commit(self, event: Event, decision: Decision) -> dict[str, Any]:
        """Commit `decision` unless one is committed already (the Step Functions Reason step); the committed one."""
        return self.ledger.claim(ledger_key(event.tenant, event.event_id), decision.to_dict())[0]

    def finish(self, key: str, decision: Decision, entry: Entry | None = None) -> dict[str, Any]:
        """Act on a committed decision, then escalate it: two steps, each marked done in the ledger as it is taken,
        so that a retry after a failed escalation escalates alone and never repeats the action."""
        data = None
        if entry is None or not entry.acted:
            self.agent.act(decision)
            data = decision.to_dict()  # once acted: with the act timing, as the ledger keeps it
            self.ledger.mark_acted(key, data)
        if self.agent.escalates(decision):
            self.agent.escalate(decision)
            self.ledger.mark_escalated(key)
        return data if data is not None else decision.to_dict()

    def _done(self, entry: Entry) -> bool:
        return entry.acted and (entry.escalated or not self.agent.escalates(Decision.from_dict(entry.decision)))
