"""The contracts of the parts. The loop depends on these only, never on a backend."""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

from workbench.types import Answer, ConversationState, Decision, Hit, Message


@runtime_checkable
class Embedder(Protocol):
    model_id: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        """Unit-normalised vectors, one row per text, in order (a list of lists or a 2-D numpy array)."""


@runtime_checkable
class VectorIndex(Protocol):
    def upsert(
        self, ids: Sequence[str], vectors: Sequence[Sequence[float]], texts: Sequence[str], metadatas: Sequence[dict[str, Any]]
    ) -> None: ...

    def query(
        self,
        vector: Sequence[float],
        top_k: int,
        tenant: str | None,
        filter: dict[str, Any] | None = None,
        text: str = "",
        keyword: str | None = None,
    ) -> list[Hit]:
        """Best `top_k` hits within `tenant` (None: all tenants, for admin tools only) matching `filter`. `text` is the
        question, which an index that also scores keywords ranks by; `keyword` keeps only hits whose text contains it."""

    def fingerprints(self, ids: Sequence[str], tenant: str) -> dict[str, str]:
        """The stored `content_hash` of each of the tenant's ids present, so ingestion rewrites only what changed."""

    def count(self, tenant: str | None = None) -> int:
        """Chunks stored for `tenant`, or in all tenants for None."""


@runtime_checkable
class DocumentIndex(VectorIndex, Protocol):
    """A vector index that can also hand back what it stores: what the hybrid indexes read from the index they wrap."""

    def tenants(self) -> list[str]: ...

    def documents(self, tenant: str | None) -> list[Hit]:
        """Every chunk of a tenant (None: of all tenants), with its text and metadata, score 0."""

    def vectors(self, ids: Sequence[str], tenant: str) -> dict[str, Any]:
        """The tenant's stored embeddings by id."""


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
    def act(self, decision: Decision, key: str) -> None:
        """Carry out `decision`. `key` (`<tenant>#<event_id>`; an escalation's: `escalation:<tenant>#<event_id>`) is
        what a receiver drops a repeat by: the one repeat the delivery core allows comes with the same key."""


@runtime_checkable
class DecisionLog(Protocol):
    def append(self, decision: Decision) -> None:
        """Append one decision; never update or delete."""

    def contains(self, tenant: str, event_id: str) -> bool:
        """Whether the decision of (tenant, event_id) is in the log: asked only after a crash, so it may be slow."""
