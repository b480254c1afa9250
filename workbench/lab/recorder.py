"""What each stage of an evaluated question did and cost, as the production path would pay it.

During an evaluation this recorder stands in for the loop's tracer (`start_as_current_span`), so it sees each
stage start and end. It notes the stage's wall-clock span and the model time the embedding cache replaced
inside it (`CachedEmbedder.saved_ms`) less the cache's own work (`overhead_ms`), which `charged` adds to the loop's
own timings: the question's vector and the extractive reasoner's sentence vectors cost the same whether or not an
earlier run embedded them, and a first run does not pay for filling the cache.
"""

from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Iterator

from workbench.config import AgentConfig
from workbench.filters import combine
from workbench.types import Decision


@dataclass
class StageSpan:
    stage: str
    start_ns: int
    end_ns: int
    replayed_ms: float  # model time of the cache hits inside this stage, less the cache's own work
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


class StageRecorder:
    def __init__(self, embedder: Any, inner: Any = None) -> None:
        """`inner`: the configured OpenTelemetry tracer, still given every span."""
        self.embedder, self.inner = embedder, inner
        self._spans: list[StageSpan] = []

    @contextmanager
    def start_as_current_span(self, name: str, attributes: dict[str, str] | None = None) -> Iterator[None]:
        saved, start = self._saved(), time.time_ns()
        try:
            with self.inner.start_as_current_span(name, attributes=attributes) if self.inner is not None else nullcontext():
                yield
        finally:
            if name != "agent.handle":  # the whole event; its stages are the spans
                self._spans.append(StageSpan(name.removeprefix("agent."), start, time.time_ns(), self._saved() - saved))

    def take(self) -> list[StageSpan]:
        """The spans of the event just handled, and a clean slate for the next."""
        spans, self._spans = self._spans, []
        return spans

    def _saved(self) -> float:
        return getattr(self.embedder, "saved_ms", 0.0) - getattr(self.embedder, "overhead_ms", 0.0)


def charged(latency_ms: dict[str, float], spans: list[StageSpan]) -> dict[str, float]:
    """The loop's stage timings plus the model time the cache replaced in each; `total` their sum."""
    out = {stage: ms for stage, ms in latency_ms.items() if stage != "total"}
    for span in spans:
        out[span.stage] = out.get(span.stage, 0.0) + span.replayed_ms
    out["total"] = sum(out.values())
    return out


def describe(
    spans: list[StageSpan], decision: Decision, config: AgentConfig, case_filter: dict | None, earlier_turns: int
) -> None:
    """Fill each span's inputs and outputs from the decision (texts in it are already redacted by the agent)."""
    rc, ec = config.retrieval, config.reasoner
    who = {"tenant": decision.tenant, "user_id": decision.user_id}
    io = {
        "embed": ({"text": decision.question}, {"model": config.embedder.model, "dimension": config.embedder.dimension}),
        "retrieve": (
            {**who, "top_k": rc.top_k, "filter": combine(rc.filter, case_filter), "hybrid": rc.hybrid.enabled},
            {"hits": [{"id": h, "score": s} for h, s in decision.hits]},
        ),
        "load_state": (who, {"earlier_turns": earlier_turns}),
        "build_prompt": ({"question": decision.question, "history_turns": ec.history_turns}, {"prompt": decision.prompt}),
        "reason": (
            {"question": decision.question, "passages": len(decision.hits), "reasoner": ec.kind},
            {
                "answer": decision.answer,
                "citations": list(decision.citations),
                "declined": decision.declined,
                "tokens": dict(decision.tokens),
            },
        ),
        "persist_state": (who, {"messages_appended": 2}),
        "act": ({"actuator": config.actuator.kind}, {"escalated": decision.escalated}),
    }
    for span in spans:
        span.inputs, span.outputs = io.get(span.stage, ({}, {}))
