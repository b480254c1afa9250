"""OpenTelemetry: one span per stage under the event's span, each carrying the correlation id and config_id."""

from conftest import event
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from workbench.events import Event
from workbench.loop import Agent
from workbench.tracing import make_tracer


def test_every_stage_is_a_span_with_the_correlation_id(hashing_config, workspace) -> None:
    spans = InMemorySpanExporter()
    cfg = hashing_config.with_overrides({"observability.tracing": "console"})
    agent = Agent.from_config(cfg, workspace, tracer=make_tracer(cfg.observability, spans))
    agent.handle(Event(**event("traced question", correlation_id="corr-7")))
    finished = {s.name: s for s in spans.get_finished_spans()}
    stages = ["embed", "retrieve", "load_state", "build_prompt", "reason", "persist_state", "act"]
    assert set(finished) == {"agent.handle", *(f"agent.{s}" for s in stages)}
    root = finished["agent.handle"]
    for s in stages:
        span = finished[f"agent.{s}"]
        assert span.parent.span_id == root.context.span_id
        assert span.attributes["correlation_id"] == "corr-7" and span.attributes["config_id"] == cfg.config_id


def test_tracing_is_off_by_default(hashing_config, workspace) -> None:
    assert Agent.from_config(hashing_config, workspace).tracer is None
