"""Replay logged conversations with another configuration and report what changed.

Each user's decisions are re-run in their original order through a fresh state store, so history is
rebuilt as the new configuration would have built it. Per decision: retrieval overlap (Jaccard of the
retrieved ids), answer similarity (cosine of the answers' embeddings), whether the answer changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.config import AgentConfig
from workbench.decisionlog.jsonl import read_log
from workbench.errors import DataError
from workbench.events import Event
from workbench.workspace import Workspace


@dataclass
class ReplayResult:
    table: Any  # pandas.DataFrame, one row per replayed decision
    metrics: dict[str, float]


def replay(log: Path, config: AgentConfig, workspace: Workspace | None = None, limit: int | None = None) -> ReplayResult:
    import pandas as pd

    from workbench.lab.sandbox import sandboxed_agent

    workspace = workspace or Workspace.default()
    records = sorted(read_log(log), key=lambda r: (r["user_id"], r["timestamp"]))[:limit]
    if not records:
        raise DataError(f"{log}: no decisions to replay")
    rows = []
    with sandboxed_agent(config, workspace) as agent:
        for old in records:
            new = agent.handle(
                Event(
                    event_id=old["event_id"],
                    tenant=old["tenant"],
                    user_id=old["user_id"],
                    text=old["question"],
                    timestamp=old["timestamp"],
                )
            )
            before, after = {h for h, _ in old["hits"]}, {h for h, _ in new.hits}
            vectors = np.asarray(agent.embedder.embed([old["answer"], new.answer]), dtype=np.float32)
            rows.append(
                {
                    "event_id": old["event_id"],
                    "user_id": old["user_id"],
                    "question": old["question"],
                    "old_answer": old["answer"],
                    "new_answer": new.answer,
                    "retrieval_overlap": len(before & after) / len(before | after) if before | after else 1.0,
                    "answer_similarity": float(vectors[0] @ vectors[1]),
                    "answer_changed": old["answer"] != new.answer,
                    "old_latency_ms": old["latency_ms"]["total"],
                    "new_latency_ms": new.latency_ms["total"],
                    "old_config_id": old["config_id"],
                }
            )
    table = pd.DataFrame(rows)
    metrics = {
        "replayed": float(len(table)),
        "retrieval_overlap": float(table["retrieval_overlap"].mean()),
        "answer_similarity": float(table["answer_similarity"].mean()),
        "answers_changed": float(table["answer_changed"].mean()),
        "latency_ratio": float(table["new_latency_ms"].mean() / max(table["old_latency_ms"].mean(), 1e-9)),
    }
    return ReplayResult(table, metrics)


def log_replay(result: ReplayResult, config: AgentConfig, log: Path) -> str:
    import mlflow

    from workbench.lab.tracking import flatten, redacted

    old_ids = sorted(set(result.table["old_config_id"]))
    with mlflow.start_run(
        run_name=f"replay:{config.name}",
        tags={
            "workbench.kind": "replay",
            "config_id": config.config_id,
            "replayed_config_ids": ",".join(old_ids),
            "decision_log": str(log),
        },
    ) as run:
        mlflow.log_params(flatten(config.shown()))
        mlflow.log_metrics(result.metrics)
        mlflow.log_table(redacted(result.table, config.privacy.redact), "replay.json")
        mlflow.log_text(config.to_yaml(), "config.yaml")
        return run.info.run_id
