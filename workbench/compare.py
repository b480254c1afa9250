"""Compare evaluation runs: what differs between their configs, quality, latency and cost, and the Pareto front."""

from __future__ import annotations

from typing import Any

QUALITY = "ndcg_at_10"
COSTS = ("latency_total_p95_ms", "cost_per_1m_events")


def runs_frame(experiment_id: str, quality: str = QUALITY, filter_string: str = "") -> Any:
    """One row per evaluation run; the config columns shown are only those that differ between runs."""
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
    frame["pareto"] = pareto_front(frame, quality, [c for c in COSTS if c in frame])
    return frame


def pareto_front(frame: Any, quality: str, costs: list[str]) -> list[bool]:
    """A run is on the front when no other run is at least as good on every axis and better on one."""
    values = frame[[quality, *costs]].to_numpy(dtype=float)
    front = []
    for i, row in enumerate(values):
        dominated = any(
            other[0] >= row[0] and all(other[1:] <= row[1:]) and (other[0] > row[0] or any(other[1:] < row[1:]))
            for j, other in enumerate(values) if j != i)
        front.append(not dominated)
    return front
