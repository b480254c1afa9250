"""The agent loop: event -> embed -> retrieve -> load state -> build prompt -> reason -> persist -> act.

The same `Agent` runs in a notebook, in the local worker and inside the exported Lambda; only the
backends behind the protocols (embedder, index, state store, reasoner, actuator, decision log) change.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Iterator, Sequence

from workbench.catalogue import Profile
from workbench.config import AgentConfig
from workbench.events import Event
from workbench.filters import combine
from workbench.indexes import query_many
from workbench.prompt import build_prompt
from workbench.protocols import Actuator, DecisionLog, Embedder, Reasoner, StateStore, VectorIndex
from workbench.redaction import redact
from workbench.serve.ledger import ledger_key
from workbench.state import user_item
from workbench.turns import append_turn, completes_streak
from workbench.types import Decision, Hit, Message
from workbench.workspace import Workspace

log = logging.getLogger("workbench.agent")


class Agent:
    """Runs one pipeline configuration. Example::

    agent = Agent.from_config(AgentConfig())
    decision = agent.handle(Event(tenant="acme", user_id="u1", text="Who won Super Bowl 50?"))
    """

    def __init__(
        self,
        config: AgentConfig,
        embedder: Embedder,
        index: VectorIndex,
        state: StateStore,
        reasoner: Reasoner,
        actuator: Actuator,
        decision_log: DecisionLog | None = None,
        *,
        tracer: Any = None,
        escalator: Actuator | None = None,
        max_write_attempts: int = 20,
    ) -> None:
        self.config = config
        self.config_id = config.config_id
        self.embedder, self.index, self.state = embedder, index, state
        self.reasoner, self.actuator, self.decision_log = reasoner, actuator, decision_log
        self.tracer, self.escalator = tracer, escalator
        self.max_write_attempts = max_write_attempts

    @classmethod
    def from_config(
        cls,
        config: AgentConfig,
        workspace: Workspace | None = None,
        *,
        cache_embeddings: bool = True,
        profile: Profile = "local",
        **parts: Any,
    ) -> "Agent":
        """Build every part from the catalogue, for `profile` (aws: the cloud twins, as the exported Lambda runs);
        pass a part in `parts` to use it instead."""
        from workbench.assembly import assemble

        return cls(config, **assemble(config, workspace or Workspace.default(), profile, cache_embeddings, parts))

    def handle(self, event: Event, filter: dict[str, Any] | None = None) -> Decision:
        """Run one event through the loop; `filter` narrows retrieval further for this event only."""
        if self.tracer is None:
            return self._handle(event, filter, None)
        attrs = {
            "correlation_id": event.correlation,
            "config_id": self.config_id,
            "event_id": event.event_id,
            "tenant": event.tenant,
        }
        with self.tracer.start_as_current_span("agent.handle", attributes=attrs):
            return self._handle(event, filter, attrs)

    def _handle(self, event: Event, filter: dict[str, Any] | None, span_attrs: dict[str, str] | None) -> Decision:
        decision = self.propose(event, filter, span_attrs)
        self.act(decision, span_attrs)
        self.escalate(decision)
        self.record(decision)
        return decision

    def propose(
        self,
        event: Event,
        filter: dict[str, Any] | None = None,
        span_attrs: dict[str, str] | None = None,
        retrieved: Retrieved | None = None,
    ) -> Decision:
        """Embed, retrieve and decide (the turn is persisted), without acting: the delivery core commits the
        decision before it acts, so a crash between the two never acts twice. `retrieved`: the event's embed and
        retrieve stages, done by its batch (`Agent.batch`)."""
        if retrieved is not None:
            return self.decide(event, list(retrieved.hits), dict(retrieved.latency), span_attrs)
        latency: dict[str, float] = {}
        timed = partial(_stage, self.tracer, span_attrs, latency)
        with timed("embed"):
            vector = self.embedder.embed([event.text])[0]
        with timed("retrieve"):
            hits = self.retrieve(event, vector, filter)
        return self.decide(event, hits, latency, span_attrs)

    @contextmanager
    def batch(self, events: Sequence[Event]) -> Iterator[list[Retrieved | None]]:
        """The stages of a batch that read no state, done for all its events at once: one model call embeds their
        texts, one multi-query per tenant and filter retrieves, and the reasoner, if it can (`prefetch`), embeds in
        one more call what it will need for all of them beyond those vectors, held until the block ends. `propose(event, retrieved=...)`
        then decides event by event, in order, as alone: a user's second event sees the first one's turn. If a batch
        stage fails, every event gets None and runs its own stages, so a failing event fails (and is retried) alone."""
        latency: dict[str, float] = {}
        hits, vectors = self._embed_and_retrieve(events, latency)
        with ExitStack() as held:
            prefetch = getattr(self.reasoner, "prefetch", None)
            if hits and prefetch is not None:
                try:
                    with _stage(self.tracer, None, latency, "prefetch"):
                        held.enter_context(prefetch([(e.text, found) for e, found in zip(events, hits)], known=vectors))
                except Exception:  # noqa: BLE001 - the reasoner then embeds for itself, event by event
                    log.warning("batch embedding for the reasoner failed; it embeds event by event", exc_info=True)
            share = {stage: round(ms / max(1, len(events)), 3) for stage, ms in latency.items()}  # each event's part
            yield [Retrieved(found, share) for found in hits] if hits is not None else [None] * len(events)

    def _embed_and_retrieve(
        self, events: Sequence[Event], latency: dict[str, float]
    ) -> tuple[list[list[Hit]] | None, dict[str, Any]]:
        """Each event's hits (None if a batch stage failed), and the vector of each distinct text."""
        texts = list(dict.fromkeys(e.text for e in events))
        try:
            with _stage(self.tracer, None, latency, "embed"):
                vectors = dict(zip(texts, self.embedder.embed(texts) if texts else []))
            with _stage(self.tracer, None, latency, "retrieve"):
                return self.retrieve_many(events, [vectors[e.text] for e in events]), vectors
        except Exception:  # noqa: BLE001 - each event runs its stages on its own instead
            log.warning("batch embedding or retrieval failed; each event runs its own", exc_info=True)
            return None, {}

    # The stages below are also the steps of the exported Step Functions workflow (workbench/serve/step_functions.py).

    def retrieve(self, event: Event, vector: Any, filter: dict[str, Any] | None = None) -> list[Hit]:
        return self._query([event], [vector], combine(self.config.retrieval.filter, event.filter, filter))[0]

    def retrieve_many(self, events: Sequence[Event], vectors: Sequence[Any]) -> list[list[Hit]]:
        """`retrieve` for a batch: one multi-query per (tenant, filter), as an index keeps a collection per tenant."""
        groups: dict[str, tuple[dict[str, Any] | None, list[int]]] = {}
        for i, event in enumerate(events):
            flt = combine(self.config.retrieval.filter, event.filter)
            groups.setdefault(json.dumps([event.tenant, flt], sort_keys=True), (flt, []))[1].append(i)
        hits: list[list[Hit]] = [[] for _ in events]
        for flt, rows in groups.values():
            for i, found in zip(rows, self._query([events[i] for i in rows], [vectors[i] for i in rows], flt)):
                hits[i] = found
        return hits

    def _query(self, events: Sequence[Event], vectors: Sequence[Any], flt: dict[str, Any] | None) -> list[list[Hit]]:
        """Events of one tenant under one filter; a hybrid index also gets their texts and exact keywords."""
        rc = self.config.retrieval
        hybrid: dict[str, list[Any]] = {}
        if rc.hybrid.enabled:
            hybrid = {"texts": [e.text for e in events], "keywords": [e.metadata.get("keyword") for e in events]}
        return query_many(self.index, vectors, rc.top_k, events[0].tenant, flt, **hybrid)

    def decide(
        self, event: Event, hits: list[Hit], latency: dict[str, float] | None = None, span_attrs: dict[str, str] | None = None
    ) -> Decision:
        """Load state, build the prompt, reason, persist the turn: the decision, not yet acted on.

        Stage timings are added to `latency`, which becomes the decision's `latency_ms`."""
        latency = {} if latency is None else latency
        timed = partial(_stage, self.tracer, span_attrs, latency)
        ec = self.config.reasoner
        with timed("load_state"):
            state = self.state.load(event.tenant, user_item(event.user_id))
        with timed("build_prompt"):
            prompt = build_prompt(ec.prompt_template, event.text, hits, state.history, ec.history_turns)
        with timed("reason"):
            answer = self.reasoner.reason(event.text, prompt, hits)
        with timed("persist_state"):
            question, said, at = self._redact(event.text), self._redact(answer.text), event.timestamp.timestamp()
            turn = (
                Message("user", question, event.event_id, at),
                Message("assistant", said, event.event_id, at, answer.declined),
            )
            history = append_turn(
                self.state, event.tenant, event.user_id, turn, state, self.config.state.max_turns, self.max_write_attempts
            )
        latency["total"] = _total(latency)
        return Decision(
            event_id=event.event_id,
            correlation_id=event.correlation,
            config_id=self.config_id,
            tenant=event.tenant,
            user_id=event.user_id,
            question=question,
            answer=said,
            citations=answer.citations,
            declined=answer.declined,
            hits=tuple((h.id, round(h.score, 6)) for h in hits),
            contexts=tuple(h.text for h in hits),
            prompt=self._redact(prompt),
            latency_ms=latency,
            tokens=dict(answer.tokens),
            escalated=completes_streak(history, self.config.escalation.after),
            timestamp=event.timestamp.isoformat(),
            channel=self._redact(event.channel),
            model=f"{ec.kind}:{ec.model or 'offline'}",
            embedder=f"{self.config.embedder.kind}:{self.config.embedder.model}",
        )

    def act(self, decision: Decision, span_attrs: dict[str, str] | None = None) -> None:
        """The main action on a decision, with its idempotency key; its `latency_ms` gains `act` and `total`."""
        with _stage(self.tracer, span_attrs, decision.latency_ms, "act"):
            self.actuator.act(decision, ledger_key(decision.tenant, decision.event_id))
        decision.latency_ms["total"] = _total(decision.latency_ms)

    def escalates(self, decision: Decision) -> bool:
        return decision.escalated and self.escalator is not None

    def escalate(self, decision: Decision) -> None:
        """Hand the user to a human: an action of its own, with a key of its own (no tenant holds ':', so it never
        equals a main action's key), so the delivery core can retry it alone."""
        if self.escalates(decision):
            text = f"Escalated to a human after {self.config.escalation.after} unanswered messages: {decision.question}"
            self.escalator.act(replace(decision, answer=text), f"escalation:{ledger_key(decision.tenant, decision.event_id)}")

    def record(self, decision: Decision) -> None:
        """Append the decision to the decision log and log its timings."""
        if self.decision_log is not None:
            self.decision_log.append(decision)
        log.info(
            "decision",
            extra={
                "config_id": self.config_id,
                "correlation_id": decision.correlation_id,
                "tenant": decision.tenant,
                "event_id": decision.event_id,
                "latency_ms": decision.latency_ms,
            },
        )

    def recorded(self, event: Event) -> bool:
        return self.decision_log is None or self.decision_log.contains(event.tenant, event.event_id)

    def _redact(self, text: str) -> str:
        kinds = self.config.privacy.redact
        return redact(text, kinds) if kinds else text


@dataclass(frozen=True)
class Retrieved:
    """An event's embed and retrieve stages, done by its batch (`Agent.batch`)."""

    hits: list[Hit]
    latency: dict[str, float]  # the event's share of the batch's embed, retrieve and prefetch time


def _total(latency: dict[str, float]) -> float:
    return round(sum(v for k, v in latency.items() if k != "total"), 3)


@contextmanager
def _stage(tracer: Any, attrs: dict[str, str] | None, latency: dict[str, float], stage: str) -> Iterator[None]:
    """Time a stage into `latency` (ms) and, when tracing is on, wrap it in a span named after it."""
    span = tracer.start_as_current_span(f"agent.{stage}", attributes=attrs) if tracer is not None else nullcontext()
    start = time.perf_counter()
    try:
        with span:
            yield
    finally:
        latency[stage] = round((time.perf_counter() - start) * 1000, 3)
