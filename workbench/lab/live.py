"""Evaluate what is deployed: an exported run's config against the live Pinecone index and DynamoDB state table, on
the run's own eval set, and the difference per metric and per question against that run.

The backends are the Lambda's (the same builders), named by the Lambda's variables: PINECONE_HOST, PINECONE_API_KEY
or PINECONE_SECRET_NAME, STATE_TABLE, and WORKBENCH_BM25_DIR for sparse_dense (default: the BM25 parameters of the
run's evaluated index). The embedder is the local one, the model the Lambda runs as ONNX (export checks they agree
to 1e-5), with its cache: a difference comes from the deployed stack, not from the questions' vectors.
The evaluation's conversations go to the live table under keys of their own (`<tenant>#workbench-eval-<id>#user#...`),
deleted at the end; actions go to a scratch outbox, as in every evaluation. The report is attached to the run.
"""

from __future__ import annotations

import ast
import os
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from workbench.errors import LiveEvalError
from workbench.lab.evalsets import DatasetSpec
from workbench.types import ConversationState, Message
from workbench.workspace import Workspace

BACKENDS = ("local", "aws")
PER_QUESTION = ("retrieved", "answer", "ndcg_at_10", "hit_rate_at_k")


class ScopedState:
    """The live state table, with this evaluation's items under a scope of their own, deleted by `clean`."""

    def __init__(self, inner: Any, scope: str) -> None:
        self.inner, self.scope, self.written = inner, scope, set()

    def load(self, tenant: str, key: str) -> ConversationState:
        return self.inner.load(tenant, f"{self.scope}#{key}")

    def save(self, tenant: str, key: str, history: Sequence[Message], expected_version: int) -> ConversationState:
        self.written.add((tenant, f"{self.scope}#{key}"))
        return self.inner.save(tenant, f"{self.scope}#{key}", history, expected_version)

    def clean(self) -> None:
        from workbench.state import pk

        for tenant, key in self.written:
            self.inner.table.delete_item(Key={"pk": pk(tenant, key)})


def evaluate_live(
    run_id: str,
    dataset: DatasetSpec,
    workspace: Workspace | None = None,
    *,
    embedder: Any = None,
    judge: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The run's config on the deployed index and state table; returns the report (also attached to the run)."""
    import mlflow

    from workbench.assembly import build_embedder
    from workbench.indexes import pinecone
    from workbench.lab import tracking
    from workbench.lab.evaluate import evaluate
    from workbench.registry import BuildContext
    from workbench.state import dynamodb

    workspace = workspace or Workspace.default()
    cfg = tracking.config_of_run(run_id)
    exported = mlflow.get_run(run_id).data
    evalset = dataset.load_evalset()
    if evalset.content_hash != exported.tags.get("dataset_hash"):
        raise LiveEvalError(
            f"the eval set ({evalset.name}, hash {evalset.content_hash}) is not run {run_id}'s (dataset "
            f"{exported.tags.get('dataset')}, hash {exported.tags.get('dataset_hash')}): give the same "
            "--corpus, --evalset, --article and --limit as that evaluation"
        )
    ctx = BuildContext(cfg, workspace)
    ctx.embedder = embedder or build_embedder(ctx)
    local_bm25 = Path(exported.tags.get("index_path", ".")) / "bm25" / cfg.index.collection
    with _default_env("WORKBENCH_BM25_DIR", str(local_bm25)):
        try:
            index = pinecone.build(ctx)
        except ValueError as exc:
            raise LiveEvalError(f"the live index: {exc}") from None
    table = dynamodb.build(ctx)
    try:
        table.table.load()  # a missing table or credentials: one clear error before any question is asked
    except Exception as exc:  # noqa: BLE001 - botocore raises several kinds
        raise LiveEvalError(
            f"the live state table {table.table.name!r} (STATE_TABLE): {type(exc).__name__}: {str(exc)[:200]}"
        ) from None
    state = ScopedState(table, f"workbench-eval-{uuid.uuid4().hex[:12]}")
    try:
        result = evaluate(cfg, dataset, workspace, judge=judge, embedder=ctx.embedder, progress=progress, live=(index, state))
    finally:
        state.clean()
    report = compare_with_run(run_id, exported.metrics, result)
    stamp = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"  # two checks within a second keep both reports
    client = mlflow.MlflowClient()
    client.log_dict(run_id, report, f"live/{stamp}/report.json")
    client.log_table(
        run_id,
        tracking.redacted(result.table.astype({c: str for c in ("retrieved", "relevant", "citations")}), cfg.privacy.redact),
        f"live/{stamp}/per_question.json",
    )
    return {**report, "report_artifact": f"live/{stamp}/report.json"}


def compare_with_run(run_id: str, exported_metrics: dict[str, float], result: Any) -> dict[str, Any]:
    """Metric by metric and question by question: what the run measured, what the deployed stack gives now."""
    import mlflow

    from workbench.lab.tracking import redacted

    before = mlflow.load_table("per_question.json", run_ids=[run_id]).set_index(["case_id", "turn"])
    now = redacted(result.table, result.config.privacy.redact).set_index(["case_id", "turn"])  # as the run stored it
    questions = []
    for key, row in now.iterrows():
        old = before.loc[key] if key in before.index else None
        entry = {"case_id": key[0], "turn": int(key[1]), "question": row["question"]}
        for name in PER_QUESTION:
            was = None if old is None else old.get(name)
            if name == "retrieved" and isinstance(was, str):
                was = ast.literal_eval(was)  # logged as the text of a list
            entry[name] = {"exported": _plain(was), "live": _plain(row[name]) if name in row else None}
        entry["same_retrieved"] = entry["retrieved"]["exported"] == entry["retrieved"]["live"]
        entry["same_answer"] = entry["answer"]["exported"] == entry["answer"]["live"]
        questions.append(entry)
    shared = sorted(set(exported_metrics) & set(result.metrics))
    return {
        "exported_run": run_id,
        "config_id": result.config.config_id,
        "backends": "aws",
        "questions": len(questions),
        "same_retrieved": sum(q["same_retrieved"] for q in questions),
        "same_answer": sum(q["same_answer"] for q in questions),
        "metrics": {
            m: {"exported": exported_metrics[m], "live": result.metrics[m], "delta": result.metrics[m] - exported_metrics[m]}
            for m in shared
        },
        "not_measured_live": sorted(set(exported_metrics) - set(result.metrics) - {"questions"}),
        "differing_questions": [q for q in questions if not (q["same_retrieved"] and q["same_answer"])],
    }


def _plain(value: Any) -> Any:
    """JSON-ready: lists as lists, numpy numbers as floats, NaN as None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and value != value:
        return None
    return value


@contextmanager
def _default_env(name: str, value: str) -> Iterator[None]:
    """`name` set to `value` for the block, unless the user set it."""
    mine = name not in os.environ
    if mine:
        os.environ[name] = value
    try:
        yield
    finally:
        if mine:
            os.environ.pop(name, None)
