"""Event-sourced decision log: every decision appended, never updated, so conversations can be audited and replayed."""

from workbench.types import Decision


class NoDecisionLog:
    """Logging switched off (`log.kind: none`)."""

    def append(self, decision: Decision) -> None:
        pass

    def contains(self, tenant: str, event_id: str) -> bool:
        return True  # nothing is ever missing from a log that keeps nothing


def build_none(ctx: object) -> NoDecisionLog:
    return NoDecisionLog()
