"""A conversation's turns: appended under optimistic concurrency, and the streak of declined answers that escalates."""

from __future__ import annotations

import random
import time

from workbench.errors import StaleWriteError
from workbench.protocols import StateStore
from workbench.state import user_item
from workbench.types import ConversationState, Message


def append_turn(
    store: StateStore,
    tenant: str,
    user_id: str,
    turn: tuple[Message, Message],
    state: ConversationState,
    cap: int,
    max_attempts: int,
) -> tuple[Message, ...]:
    """Save `state` with `turn` appended, keeping the last `cap` messages. On a lost race, reload and re-apply:
    never overwrite another writer's turn. Returns the history as written (or as found, for a redelivered event)."""
    event_id = turn[0].event_id
    for attempt in range(max_attempts):
        if any(m.event_id == event_id for m in state.history):
            return state.history  # a redelivered event: its turn is already recorded
        history = (*state.history, *turn)[-cap:]
        try:
            store.save(tenant, user_item(user_id), history, state.version)
            return history
        except StaleWriteError:
            time.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))  # capped exponential backoff, full jitter
            state = store.load(tenant, user_item(user_id))
    raise StaleWriteError(
        f"tenant {tenant!r} user {user_id!r}: history changed under {max_attempts} attempts to write; event kept for retry"
    )


def completes_streak(history: tuple[Message, ...], after: int) -> bool:
    """True when the last answer completes a streak of exactly `after` declined answers (0: never)."""
    if not after:
        return False
    answers = [m for m in history if m.role == "assistant"]
    streak = next((i for i, m in enumerate(reversed(answers)) if not m.declined), len(answers))
    return streak == after
