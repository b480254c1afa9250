"""Compare evaluation runs: what differs between their configs, quality, latency and cost with their intervals,
and the Pareto front of the differences that are significant (an Optuna search's own front for its trials)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.errors import ConfigError

QUALITY = "ndcg_at_10"
COSTS = ("latency_total_p95_ms", "cost_per_1m_events")


def runs_frame(experiment_id: str, quality: str = QUALITY, filter_string: str = "", objectives: list[str] | None = None) -> Any:
    """One row per evaluation run; the config columns shown are only those that differ between runs. `pareto` and
    `beaten_by` come from `significant_front` (each run's per-question table is read back from MLflow); for a search's
    trials, `objectives` (`metric:max|min`) give the study's own front instead (`front`)."""
    import mlflow
    import pandas as pd

    from workbench.lab.paired import load_run

    query = "tags.`workbench.kind` = 'evaluation'" + (f" and {filter_string}" if filter_string else "")
    raw = mlflow.search_runs([experiment_id], filter_string=query, order_by=["attributes.start_time ASC"])
    if raw.empty:
        return pd.DataFrame()
    if f"metrics.{quality}" not in raw:
        raise ConfigError(
            f"no run has metric {quality!r}; choose one of {sorted(c[8:] for c in raw if c.startswith('metrics.'))}"
        )
    params = raw[[c for c in raw if c.startswith("params.")]]
    varying = [c for c in params if params[c].astype(str).nunique(dropna=False) > 1]
    columns = {
        "run_id": raw["run_id"],
        "name": raw["tags.config_name"],
        "config_id": raw["tags.config_id"],
        "dataset": raw["tags.dataset"],
        "status": raw["status"],
    }
    columns |= {col[7:]: raw[col] for col in varying}
    columns |= {col[8:]: raw[col] for col in raw if col.startswith("metrics.")}
    columns |= {
        name: raw[tag] for tag, name in (("tags.workbench.promoted", "promoted"), ("tags.optuna.trial", "trial")) if tag in raw
    }
    frame = pd.DataFrame(columns)  # built at once: a column at a time, a run's hundred metrics fragment it (a warning each)
    missing = [o for o in objectives or [] if o.rsplit(":", 1)[0] not in frame]
    if missing:
        raise ConfigError(f"no run has the metric of objective(s) {missing}")
    if objectives:
        frame["pareto"], frame["beaten_by"] = front(frame, objectives), ""
        return frame
    frame["pareto"], frame["beaten_by"] = False, "not finished"
    done = frame["status"] == "FINISHED"
    on_front, beaten_by = significant_front(
        frame[done], {r: load_run(r) for r in frame.loc[done, "run_id"]}, quality, [c for c in COSTS if c in frame]
    )
    frame.loc[done, "pareto"], frame.loc[done, "beaten_by"] = on_front, beaten_by
    return frame


def search_objectives(experiment_id: str, sweep_name: str) -> list[str] | None:
    """The objectives of the Optuna search called `sweep_name` (None when it is a grid sweep)."""
    import mlflow

    from workbench.lab.tracking import literal

    runs = mlflow.search_runs(
        [experiment_id],
        output_format="list",
        max_results=1,
        filter_string=f"tags.sweep_name = {literal(sweep_name)} and tags.`workbench.search` = 'optuna'",
    )
    return runs[0].data.tags["workbench.objectives"].split(",") if runs else None


def front(frame: Any, objectives: list[str]) -> list[bool]:
    """A run is on the front when no other run is at least as good on every objective and better on one
    (Optuna's definition, so a search's front here is its study's `best_trials`)."""
    signs = np.array([1.0 if o.endswith(":max") else -1.0 for o in objectives])
    values = frame[[o.rsplit(":", 1)[0] for o in objectives]].to_numpy(dtype=float) * signs  # every axis maximised
    return [
        not any((other >= row).all() and (other > row).any() for j, other in enumerate(values) if j != i)
        for i, row in enumerate(values)
    ]


def significant_front(frame: Any, runs: dict[str, Any], quality: str, costs: list[str]) -> tuple[list[bool], list[str]]:
    """The Pareto front when differences must be significant, and for each run off it a run that beats it.

    A run is off the front only when another run is at least as good on every axis (quality, p95 latency, cost)
    and significantly better on one: a run is never pushed off by a noise-level difference. Significance as in
    `workbench.lab.paired`, Holm-adjusted per axis across all pairs."""
    from workbench.lab.paired import difference, judged

    frame = frame.reset_index(drop=True)

    ids, axes = list(frame["run_id"]), [quality, *costs]
    values = frame[axes].to_numpy(dtype=float)
    signs = np.array([1.0] + [-1.0] * len(costs))  # higher quality, lower latency and cost are better
    pairs = [(i, j) for i in range(len(ids)) for j in range(i + 1, len(ids))]
    wins: set[tuple[int, int]] = set()  # (winner, loser) on at least one axis, significantly
    for axis in axes:
        for (i, j), d in zip(pairs, judged([difference(runs[ids[i]], runs[ids[j]], axis) for i, j in pairs])):
            if d.significant:
                wins.add((j, i) if d.better else (i, j))
    beaten_by = []
    for j in range(len(ids)):
        winner = next((i for i in range(len(ids)) if (i, j) in wins and np.all(signs * values[i] >= signs * values[j])), None)
        beaten_by.append("" if winner is None else frame["name"].iloc[winner])
    return [not b for b in beaten_by], beaten_by


def with_interval(frame: Any, metric: str, digits: int) -> Any:
    """'0.730 [0.619, 0.836]' for each run; the bare value where a run logged no interval (runs from before them)."""
    low, high = frame.get(f"{metric}_ci_low"), frame.get(f"{metric}_ci_high")

    def one(i: int) -> str:
        value = f"{frame[metric].iloc[i]:.{digits}f}"
        known = low is not None and high is not None and low.iloc[i] == low.iloc[i]
        return f"{value} [{low.iloc[i]:.{digits}f}, {high.iloc[i]:.{digits}f}]" if known else value

    return [one(i) for i in range(len(frame))]


def format_runs(frame: Any, quality: str, costs: list[str]) -> str:
    """The runs table: differing config, each axis with its 95% interval, and the front under uncertainty."""
    import pandas as pd

    shown = pd.DataFrame({"run_id": frame["run_id"].str[:8], "name": frame["name"]})
    for col in (c for c in frame if "." in c):
        shown[col] = frame[col]
    for metric, digits in ((quality, 3), *((c, 1 if "latency" in c else 3) for c in costs)):
        shown[metric] = with_interval(frame, metric, digits)
    if "answer_contains_reference" in frame and quality != "answer_contains_reference":  # the extractive answers' score
        shown["answer_contains_reference"] = frame["answer_contains_reference"].round(3)
    for col in ("repeats", "promoted"):
        if col in frame:
            shown[col] = frame[col]
    shown["pareto"], shown["beaten_by"] = frame["pareto"], frame["beaten_by"]
    with pd.option_context("display.max_columns", 30, "display.width", 250, "display.max_colwidth", 40):
        return shown.fillna("").to_string(index=False)


def format_differences(diffs: Any, baseline: str) -> str:
    """Candidate minus baseline per run and metric: the interval, the Holm-adjusted p-value, the test and effect size."""
    import pandas as pd

    def cell(r: Any) -> str:
        return f"{r.diff:+.4g} [{r.ci_low:+.4g}, {r.ci_high:+.4g}]" if r.n else "no common questions"

    shown = pd.DataFrame(
        {
            "run": diffs["name"],
            "metric": diffs["metric"],
            "n": diffs["n"],
            "difference [95% CI]": [cell(r) for r in diffs.itertuples()],
            "p (Holm)": diffs["p_value"].round(4),
            "test": diffs["test"],
            "effect": diffs["effect_size"].round(3),
            "significant": ["better" if r.better else "worse" if r.significant else "no" for r in diffs.itertuples()],
        }
    )
    with pd.option_context("display.width", 250, "display.max_colwidth", 40):
        return f"against baseline {baseline} (candidate - baseline):\n" + shown.to_string(index=False)


@dataclass
class Comparison:
    frame: Any  # runs_frame, with the front
    costs: list[str]
    baseline: Any = None  # the baseline's RunData, when one was named
    differences: Any = None  # against_baseline's table

    def text(self, quality: str) -> str:
        shown = format_runs(self.frame, quality, self.costs)
        if self.baseline is not None:
            shown += "\n\n" + format_differences(self.differences, f"{self.baseline.name} ({self.baseline.run_id[:8]})")
        return shown


def compare(
    experiment_id: str,
    quality: str = QUALITY,
    filter_string: str = "",
    baseline: str | None = None,
    objectives: list[str] | None = None,
) -> Comparison:
    """The runs with their front (a search's `objectives` give its study's own), and with a baseline (run id or
    name) every other run's paired differences from it."""
    from workbench.lab.paired import against_baseline, load_run, resolve_run
    from workbench.lab.summary import lower_is_better

    if lower_is_better(quality):  # the front would prefer the slowest run
        raise ConfigError(f"--quality {quality}: lower is better for it; latency and cost are the front's other axes")
    frame = runs_frame(experiment_id, quality, filter_string, objectives)
    costs = [c for c in COSTS if c in frame]
    if frame.empty or baseline is None:
        return Comparison(frame, costs)
    base = load_run(resolve_run(baseline, experiment_id))
    others = [load_run(r) for r in frame.loc[frame["status"] == "FINISHED", "run_id"] if r != base.run_id]
    return Comparison(frame, costs, base, against_baseline(base, others, [quality, *costs]))
