"""Compare evaluation runs: what differs between their configs, quality, latency and cost, and the Pareto front."""

from __future__ import annotations

from typing import Any

QUALITY = "ndcg_at_10"
COSTS = ("latency_total_p95_ms", "cost_per_1m_events")


def runs_frame(experiment_id: str, quality: str = QUALITY, filter_string: str = "", objectives: list[str] | None = None) -> Any:
    """One row per evaluation run; the config columns shown are only those that differ between runs. The Pareto front
    is over `objectives` (`metric:max|min`, a search's), else over quality against p95 latency and cost."""
    import mlflow
    import pandas as pd

    query = "tags.`workbench.kind` = 'evaluation'" + (f" and {filter_string}" if filter_string else "")
    raw = mlflow.search_runs([experiment_id], filter_string=query, order_by=["attributes.start_time ASC"])
    if raw.empty:
        return pd.DataFrame()
    if f"metrics.{quality}" not in raw:
        raise ValueError(f"no run has metric {quality!r}; choose one of {sorted(c[8:] for c in raw if c.startswith('metrics.'))}")
    params = raw[[c for c in raw if c.startswith("params.")]]
    varying = [c for c in params if params[c].astype(str).nunique(dropna=False) > 1]
    frame = pd.DataFrame({"run_id": raw["run_id"], "name": raw["tags.config_name"], "config_id": raw["tags.config_id"],
                          "dataset": raw["tags.dataset"], "status": raw["status"]})
    for col in varying:
        frame[col[7:]] = raw[col]
    for col in (c for c in raw if c.startswith("metrics.")):
        frame[col[8:]] = raw[col]
    if "tags.workbench.promoted" in raw:
        frame["promoted"] = raw["tags.workbench.promoted"]
    if "tags.optuna.trial" in raw:
        frame["trial"] = raw["tags.optuna.trial"]
    missing = [o for o in objectives or [] if o.rsplit(":", 1)[0] not in frame]
    if missing:
        raise ValueError(f"no run has the metric of objective(s) {missing}")
    frame["pareto"] = front(frame, objectives) if objectives else pareto_front(frame, quality, [c for c in COSTS if c in frame])
    return frame


def search_objectives(experiment_id: str, sweep_name: str) -> list[str] | None:
    """The objectives of the Optuna search called `sweep_name` (None when it is a grid sweep)."""
    import mlflow

    runs = mlflow.search_runs([experiment_id], output_format="list", max_results=1, filter_string=(
        f"tags.sweep_name = '{sweep_name}' and tags.`workbench.search` = 'optuna'"))
    return runs[0].data.tags["workbench.objectives"].split(",") if runs else None


def pareto_front(frame: Any, quality: str, costs: list[str]) -> list[bool]:
    return front(frame, [f"{quality}:max", *(f"{c}:min" for c in costs)])


def front(frame: Any, objectives: list[str]) -> list[bool]:
    """A run is on the front when no other run is at least as good on every objective and better on one
    (Optuna's definition, so a search's front here is its study's `best_trials`)."""
    import numpy as np

    signs = np.array([1.0 if o.endswith(":max") else -1.0 for o in objectives])
    values = frame[[o.rsplit(":", 1)[0] for o in objectives]].to_numpy(dtype=float) * signs  # every axis maximised
    return [not any((other >= row).all() and (other > row).any() for j, other in enumerate(values) if j != i)
            for i, row in enumerate(values)]
