"""The five stage contracts. The loop depends on these only, never on a backend."""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

from workbench.types import Answer, ConversationState, Hit, Message


class StaleWriteError(RuntimeError):
    """A conditional write lost a race: the item changed since it was read (DynamoDB's ConditionalCheckFailed)."""


@runtime_checkable
class Embedder(Protocol):
    model_id: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        """Unit-normalised vectors, one row per text, in order (a list of lists or a 2-D numpy array)."""


@runtime_checkable
class VectorIndex(Protocol):
    def upsert(self, ids: Sequence[str], vectors: Sequence[Sequence[float]], texts: Sequence[str],
               metadatas: Sequence[dict[str, Any]]) -> None: ...

    def query(self, vector: Sequence[float], top_k: int, tenant: str | None,
              filter: dict[str, Any] | None = None) -> list[Hit]:
        """Best `top_k` hits within `tenant` (None: all tenants, for admin tools only) matching `filter`."""

    def fingerprints(self, ids: Sequence[str], tenant: str) -> dict[str, str]:
        """The stored `content_hash` of each of the tenant's ids present, so ingestion rewrites only what changed."""

    def count(self) -> int: ...


@runtime_checkable
class StateStore(Protocol):
    def load(self, tenant: str, item: str) -> ConversationState:
        """The tenant's item (`user#<id>` or `crdt#<name>`); items of other tenants are never visible."""

    def save(self, tenant: str, item: str, history: Sequence[Message], expected_version: int) -> ConversationState:
        """Write if the stored version still equals `expected_version`, else raise StaleWriteError."""


@runtime_checkable
class Reasoner(Protocol):
    def reason(self, question: str, prompt: str, hits: Sequence[Hit]) -> Answer: ...


@runtime_checkable
class Actuator(Protocol):
    def act(self, decision: dict[str, Any]) -> None: ...


@runtime_checkable
class DecisionLog(Protocol):
    def append(self, record: dict[str, Any]) -> None:
        """Append one decision; never update or delete."""

    def contains(self, tenant: str, event_id: str) -> bool:
        """Whether the decision of (tenant, event_id) is in the log: asked only after a crash, so it may be slow."""
