"""OpenTelemetry spans for each stage of the loop, carrying the correlation id and the config_id.

Off by default (`observability.tracing: none`); `console` prints spans, `otlp` sends them to a collector
(`observability.otlp_endpoint`, or the standard OTEL_EXPORTER_OTLP_ENDPOINT). Imported only when switched on.
"""

from __future__ import annotations

from typing import Any

from workbench.config import ObservabilityConfig


def make_tracer(cfg: ObservabilityConfig, exporter: Any = None) -> Any:
    """A tracer for the loop; `exporter` overrides the configured one (tests pass an in-memory exporter)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": cfg.service_name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif cfg.tracing == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=cfg.otlp_endpoint) if cfg.otlp_endpoint else OTLPSpanExporter())
        )
    return provider.get_tracer("workbench.agent")
