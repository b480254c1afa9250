"""Every evaluated question as an MLflow trace: a span per stage with its inputs and outputs, metrics as assessments.

The traces are built after the evaluation from what the recorder saw (real start and end times) and written in
bulk through MLflow's tracing API: one trace record per question, which carries its assessments, then one batch of
spans. These are the two calls MLflow's own exporter makes; live tracing makes them span by span, one store
transaction each, which costs more than evaluating the question. On a SQL store (the local default) the whole run's
records and spans are one transaction (`_one_transaction`): MLflow commits each record on its own, and 40 commits,
each waiting for the disk, cost three times the writing itself.

In the MLflow UI: open the run, then its Traces tab; each trace is named `<case_id>:<turn>` (and `#<repeat>`).
"""

from __future__ import annotations

import copy
import functools
import json
import math
import uuid
from contextlib import contextmanager, nullcontext
from typing import Any, Iterator

from workbench.lab.summary import quality_columns

ROOT = "question"
SOURCE = "workbench.evaluation"
_SPAN_TYPES = {"embed": "EMBEDDING", "retrieve": "RETRIEVER", "reason": "LLM", "build_prompt": "PARSER", "act": "TOOL"}


def log_traces(result: Any, run_id: str, experiment_id: str) -> int:
    """Write one trace per row of `result.table`, linked to `run_id`; returns how many."""
    from mlflow.entities import AssessmentSource, Feedback, Span, TraceInfo, TraceLocation, TraceState

    table, source = result.table, AssessmentSource(source_type="CODE", source_id=SOURCE)
    metrics = quality_columns(table)  # latency and cost are span attributes: the store writes one row per assessment
    spans, infos = [], []
    for row, stages in zip(table.to_dict("records"), result.spans):
        if not stages:
            continue
        trace_id, root_id = f"tr-{uuid.uuid4().hex}", uuid.uuid4().hex[:16]
        start, end = stages[0].start_ns, stages[-1].end_ns
        # The decision's own texts (redacted by the agent when the config says so), never the eval set's.
        question = {"question": next((s.inputs["text"] for s in stages if s.stage == "embed"), "")}
        answer = {"answer": next((s.outputs["answer"] for s in stages if s.stage == "reason"), "")}
        spans.append(
            Span.from_dict(
                _span(
                    trace_id,
                    root_id,
                    None,
                    ROOT,
                    "AGENT",
                    start,
                    end,
                    question,
                    answer,
                    {
                        "latency_charged_ms": row["latency_total_ms"],
                        "cost_per_1m_events": row["cost_per_1m_events"],
                        "case_id": row["case_id"],
                        "turn": row["turn"],
                        "repeat": row["repeat"],
                    },
                )
            )
        )
        for s in stages:
            spans.append(
                Span.from_dict(
                    _span(
                        trace_id,
                        uuid.uuid4().hex[:16],
                        root_id,
                        s.stage,
                        _SPAN_TYPES.get(s.stage, "UNKNOWN"),
                        s.start_ns,
                        s.end_ns,
                        s.inputs,
                        s.outputs,
                        {"latency_charged_ms": row[f"latency_{s.stage}_ms"], "cache_replayed_ms": s.replayed_ms},
                    )
                )
            )
        name = f"{row['case_id']}:{row['turn']}" + (f"#{row['repeat']}" if result.repeats > 1 else "")
        scores = [Feedback(name=m, value=float(row[m]), source=source, trace_id=trace_id) for m in metrics if _known(row.get(m))]
        infos.append(
            TraceInfo(
                trace_id=trace_id,
                trace_location=TraceLocation.from_experiment_id(experiment_id),
                request_time=start // 1_000_000,
                execution_duration=(end - start) // 1_000_000,
                state=TraceState.OK,
                request_preview=question["question"][:1000],
                response_preview=answer["answer"][:1000],
                trace_metadata={"mlflow.sourceRun": run_id, "mlflow.trace_schema.version": "3"},
                tags={"mlflow.traceName": name},
                assessments=scores,
            )
        )
    if infos:
        _write(experiment_id, infos, spans)
    return len(infos)


def _write(experiment_id: str, infos: list[Any], spans: list[Any]) -> None:
    """Records first, then the spans into them: twice as fast as the other way round. No trace without its stages."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.tracing.client import TracingClient

    client = TracingClient()
    if isinstance(client.store, SqlAlchemyStore):
        with _one_transaction(client.store) as store:  # all or nothing
            for info in infos:
                store.start_trace(info)
            store.log_spans(experiment_id, spans)
        return
    for info in infos:
        client.start_trace(info)
    try:
        client.log_spans(experiment_id, spans)
    except Exception:
        client.delete_traces(experiment_id, trace_ids=[i.trace_id for i in infos])
        raise


@contextmanager
def _one_transaction(shared: Any) -> Iterator[Any]:
    """A copy of the SQL store whose writes share one session, committed once at the end of the block or rolled back
    on an error, which is raised as it was (MLflow's session would wrap it). Each of MLflow's writes opens its session
    through `ManagedSessionMaker`, which the copy lends this one; the store every other caller and thread uses is left
    as it is, and the copy shares its engine. The traces' ids are new, so MLflow's path for a record that exists
    already (a rollback) is never taken."""
    store, failed = copy.copy(shared), None
    with shared.ManagedSessionMaker(read_only=False) as session:
        store.ManagedSessionMaker = lambda read_only=True: nullcontext(session)
        # Every record reads the same experiment (about a sixth of its time), and a record once flushed needs no
        # tracking by the session: without the 40 records before it, each flush walks less.
        store.get_experiment = functools.cache(store.get_experiment)
        start = store.start_trace

        def start_trace(info: Any) -> Any:
            started = start(info)
            session.expunge_all()
            return started

        store.start_trace = start_trace
        try:
            yield store
        except Exception as exc:  # noqa: BLE001 - raised below, once nothing of it is stored
            session.rollback()
            failed = exc
    if failed is not None:
        raise failed


def _known(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _span(
    trace_id: str,
    span_id: str,
    parent: str | None,
    name: str,
    kind: str,
    start: int,
    end: int,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    attributes: dict[str, Any],
) -> dict[str, Any]:
    """A span in MLflow's stored form: attribute values JSON-encoded, as its own spans carry them."""
    attrs = {
        "mlflow.traceRequestId": trace_id,
        "mlflow.spanType": kind,
        "mlflow.spanInputs": inputs,
        "mlflow.spanOutputs": outputs,
        **attributes,
    }
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "start_time_unix_nano": start,
        "end_time_unix_nano": end,
        "events": [],
        "status": {"code": "STATUS_CODE_OK", "message": ""},
        "attributes": {k: json.dumps(v, default=str) for k, v in attrs.items()},
    }
