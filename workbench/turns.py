"""A conversation's turns: appended under optimistic concurrency, and the streak of declined answers that escalates.

A conversation is one item in either store, and DynamoDB refuses an item over 400 KB: ten turns of 8,000-character
questions (the event limit) with long answers would pass it and fail every later event of that user. So the history
kept is the last `state.max_turns` turns that fit `MAX_HISTORY_BYTES`, the same in SQLite as in DynamoDB, so what was
evaluated is what the Lambda keeps.
"""

from __future__ import annotations

import random
import time

from workbench.errors import StaleWriteError
from workbench.protocols import StateStore
from workbench.state import user_item
from workbench.types import ConversationState, Message

MAX_HISTORY_BYTES = 380_000  # DynamoDB's 409,600-byte item, less the key, version, times and attribute names
PER_MESSAGE_BYTES = 64  # a message's attribute names, role, time and flag, as DynamoDB sizes them


def append_turn(
    store: StateStore,
    tenant: str,
    user_id: str,
    turn: tuple[Message, Message],
    state: ConversationState,
    max_turns: int,
    max_attempts: int,
) -> tuple[Message, ...]:
    """Save `state` with `turn` appended, keeping the last `max_turns` turns. On a lost race, reload and re-apply:
    never overwrite another writer's turn. Returns the history as written (or as found, for a redelivered event)."""
    event_id = turn[0].event_id
    for attempt in range(max_attempts):
        if any(m.event_id == event_id for m in state.history):
            return state.history  # a redelivered event: its turn is already recorded
        history = kept((*state.history, *turn), max_turns)
        try:
            store.save(tenant, user_item(user_id), history, state.version)
            return history
        except StaleWriteError:
            time.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))  # capped exponential backoff, full jitter
            state = store.load(tenant, user_item(user_id))
    raise StaleWriteError(
        f"tenant {tenant!r} user {user_id!r}: history changed under {max_attempts} attempts to write; event kept for retry"
    )


def kept(history: tuple[Message, ...], max_turns: int) -> tuple[Message, ...]:
    """The last `max_turns` turns, fewer if they would not fit one item (the newest turn is always kept)."""
    history = history[-2 * max_turns :]
    size = sum(_bytes(m) for m in history)
    while len(history) > 2 and size > MAX_HISTORY_BYTES:
        size -= _bytes(history[0]) + _bytes(history[1])
        history = history[2:]
    return history


def _bytes(m: Message) -> int:
    return len(m.content.encode("utf-8", "surrogatepass")) + len(m.event_id.encode("utf-8", "surrogatepass")) + PER_MESSAGE_BYTES


def completes_streak(history: tuple[Message, ...], after: int) -> bool:
    """True when the last answer completes a streak of exactly `after` declined answers (0: never)."""
    if not after:
        return False
    answers = [m for m in history if m.role == "assistant"]
    streak = next((i for i, m in enumerate(reversed(answers)) if not m.declined), len(answers))
    return streak == after
