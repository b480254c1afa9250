"""Event-sourced decision log: every decision appended, never updated, so conversations can be audited and replayed."""


class NoDecisionLog:
    """Logging switched off (`log.kind: none`)."""

    def append(self, record: dict) -> None:
        pass

    def contains(self, tenant: str, event_id: str) -> bool:
        return True  # nothing is ever missing from a log that keeps nothing


def build_none(ctx: object) -> NoDecisionLog:
    return NoDecisionLog()
