"""Actuators: what the agent does with a decision. Each takes the `Decision` and the key a receiver drops repeats by."""

from __future__ import annotations

from typing import Any

from workbench.types import Decision

FIELDS = ("event_id", "correlation_id", "config_id", "tenant", "user_id", "answer", "citations")


def action_record(decision: Decision, key: str) -> dict[str, Any]:
    """The action as the outbox and the Lambda's log line write it: its key, then who it is for and the answer."""
    return {"idempotency_key": key, **{name: getattr(decision, name) for name in FIELDS}}
