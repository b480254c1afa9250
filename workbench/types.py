"""The plain types that flow through the loop: retrieved hits, messages, conversation state, the answer and the decision."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk; `score` is a similarity, higher is better (cosine: 1 - distance)."""

    id: str
    score: float
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    role: str
    content: str
    event_id: str = ""
    at: float = 0.0
    declined: bool = False


@dataclass(frozen=True)
class ConversationState:
    """One stored item (a user's conversation, or a shared CRDT), as in DynamoDB: `version` guards the conditional
    write (0 = no item). `item` is the key within the tenant, e.g. `user#alice`."""

    item: str
    history: tuple[Message, ...] = ()
    version: int = 0
    updated_at: float = 0.0


@dataclass(frozen=True)
class Answer:
    text: str
    citations: tuple[str, ...] = ()
    declined: bool = False
    tokens: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """What `Agent.handle` returns: enough to audit, score and replay one turn."""

    event_id: str
    correlation_id: str
    config_id: str
    tenant: str
    user_id: str
    question: str
    answer: str
    citations: tuple[str, ...]
    declined: bool
    hits: tuple[tuple[str, float], ...]
    contexts: tuple[str, ...]
    prompt: str
    latency_ms: dict[str, float]
    tokens: dict[str, int]
    escalated: bool = False
    timestamp: str = ""  # the event's, ISO 8601
    channel: str = "default"  # the event's, redacted
    model: str = ""  # the reasoner, e.g. extractive:offline
    embedder: str = ""  # the embedder, e.g. minilm:all-MiniLM-L6-v2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Decision":
        """The inverse of `to_dict`, from JSON (lists back to tuples); unknown keys are ignored."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(
            **{
                **known,
                "citations": tuple(known["citations"]),
                "hits": tuple(tuple(h) for h in known["hits"]),
                "contexts": tuple(known["contexts"]),
                "latency_ms": dict(known["latency_ms"]),
            }
        )
