"""The loop as four steps for AWS Step Functions: Embed -> Retrieve -> Reason -> Act (their ASL: deploy/state_machine.py).

Each step takes and returns a JSON state, so the workflow can checkpoint between them; each calls the
same `Agent` methods as `Agent.handle`, so the workflow decides exactly as the single function does. Reason commits
its decision to the delivery core's ledger and passes on only the event, so the state stays far below Step
Functions' 256 KiB (each step checks its output, and names top_k and the chunk size when it is over); Act acts on the
committed decision once, however often it is retried.

An execution that fails after its retries sends the event to the dead-letter queue as a body the starter accepts,
redacted (`dead_letter`, made by the starter), with the error in a message attribute: a redrive starts the event
again. The starter names an execution after the tenant and event id; a redelivery of an event whose execution
failed, timed out or was aborted starts a new attempt (`<name>-2`, ...), since a closed name cannot be reused.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Callable

from workbench.errors import StepFailed
from workbench.events import Event
from workbench.redaction import redact
from workbench.serve.deadletter import redacted
from workbench.serve.ledger import ledger_key
from workbench.types import Decision, Hit

STATE_LIMIT_BYTES = 256 * 1024 - 8 * 1024  # Step Functions' payload quota, less room for the error a Catch adds
CARRIED = ("event", "dead_letter")  # what every step passes on
CLOSED_UNSUCCESSFULLY = ("FAILED", "TIMED_OUT", "ABORTED")
MAX_ATTEMPTS = 100  # executions per event: the name's suffix stays within 80 characters


def embed(agent: Any, state: dict[str, Any]) -> dict[str, Any]:
    event = Event.model_validate(state["event"])
    return {**state, "vector": [float(x) for x in agent.embedder.embed([event.text])[0]]}


def retrieve(agent: Any, state: dict[str, Any]) -> dict[str, Any]:
    event = Event.model_validate(state["event"])
    hits = agent.retrieve(event, state["vector"], state.get("filter"))
    return {
        **{k: v for k, v in state.items() if k != "vector"},
        "hits": [{"id": h.id, "score": h.score, "text": h.text, "metadata": h.metadata} for h in hits],
    }


def reason(delivery: Any, state: dict[str, Any]) -> dict[str, Any]:
    """Decide and commit the decision (unless an earlier attempt committed one): the state carries no contexts."""
    event = Event.model_validate(state["event"])
    delivery.commit(event, delivery.agent.decide(event, [Hit(**h) for h in state["hits"]]))
    return {k: state[k] for k in CARRIED if k in state}


def act(delivery: Any, state: dict[str, Any]) -> dict[str, Any]:
    event = Event.model_validate(state["event"])
    settled = delivery.settle(event, lambda: _uncommitted(event))
    return {"event_id": event.event_id, "tenant": event.tenant, "answer": settled["answer"], "escalated": settled["escalated"]}


def _uncommitted(event: Event) -> Decision:
    raise StepFailed(f"no committed decision for {ledger_key(event.tenant, event.event_id)}: the Reason step commits it")


def run_step(
    step: Callable[[Any, dict[str, Any]], dict[str, Any]], target: Any, state: dict[str, Any], config: Any
) -> dict[str, Any]:
    """A step as a Lambda runs it: its output checked against the payload quota, its errors redacted."""
    try:
        out = step(target, state)
    except Exception as exc:  # noqa: BLE001 - re-raised, redacted: the error text reaches the history and the DLQ
        raise StepFailed(redact(f"{type(exc).__name__}: {exc}")[:4000]) from None
    size = len(json.dumps(out))  # ASCII-escaped: at least as long as any encoding Step Functions measures
    if size > STATE_LIMIT_BYTES:
        raise StepFailed(
            f"the {step.__name__} step's output is {size} bytes, over Step Functions' "
            f"{STATE_LIMIT_BYTES}-byte budget; lower retrieval.top_k ({config.retrieval.top_k}) or "
            f"retrieval.chunking.size ({config.retrieval.chunking.size})"
        )
    return out


def execution_name(event: Event, attempt: int = 1) -> str:
    """Unique per (tenant, event id, attempt), within Step Functions' 80 characters: a readable head and a hash of
    both (a suffix cannot make one event's name another's: every first name ends in 32 hex digits)."""
    head = re.sub(r"[^A-Za-z0-9_-]", "-", f"{event.tenant}-{event.event_id}")[:40]
    name = f"{head}-{hashlib.sha256(f'{event.tenant}#{event.event_id}'.encode()).hexdigest()[:32]}"
    return name if attempt == 1 else f"{name}-{attempt}"


def execution_input(event: Event) -> str:
    """The execution's input: the event, and the body its dead letter will carry (redacted, keys kept)."""
    data = event.model_dump(mode="json")
    return json.dumps({"event": data, "dead_letter": json.dumps(redacted(data), ensure_ascii=False)}, allow_nan=False)


def start(client: Any, machine_arn: str, event: Event) -> str:
    """Start the event's execution once: the name of the one started, or of the one that already runs or succeeded.
    A closed name cannot be reused (for 90 days), so an event whose executions failed gets the next attempt."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        name = execution_name(event, attempt)
        try:
            client.start_execution(stateMachineArn=machine_arn, name=name, input=execution_input(event))
            return name
        except client.exceptions.ExecutionAlreadyExists:
            arn = f"{machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"
            if client.describe_execution(executionArn=arn)["status"] not in CLOSED_UNSUCCESSFULLY:
                return name
    raise StepFailed(f"{ledger_key(event.tenant, event.event_id)}: {MAX_ATTEMPTS} executions failed; not starting another")
