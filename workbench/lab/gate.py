"""A CI gate: is the candidate run non-inferior to the baseline on every chosen metric?

For each metric the difference (candidate - baseline, signed so that positive is better) gets a one-sided
95% lower bound from a paired bootstrap over the questions both runs answered (for a latency percentile or the
cost, the bound on the difference of the figures). The candidate passes a metric when that bound is above
-margin or at it, i.e. it is shown not to be worse than the baseline by more than the margin (so a run gated
against itself with margin 0 passes). The gate passes when every metric passes; requiring all of them (an
intersection-union test) keeps the chance of passing a candidate that is worse on any one at most alpha, with
no correction for the number of metrics.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from workbench.errors import ConfigError, DataError
from workbench.lab.paired import RunData, aligned
from workbench.lab.stats import lower_bound, paired_draws
from workbench.lab.summary import lower_is_better, quality_columns, statistic_of


@dataclass(frozen=True)
class Check:
    metric: str
    margin: float
    baseline: float
    candidate: float
    n: int
    bound: float  # one-sided lower bound of the signed difference (positive: candidate better)
    passed: bool


@dataclass
class GateReport:
    baseline: str
    candidate: str
    alpha: float
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([asdict(c) for c in self.checks])


def check(baseline: RunData, candidate: RunData, metric: str, margin: float, alpha: float = 0.05) -> Check:
    if not 0 <= margin < math.inf:  # NaN would fail every gate, infinity pass every one
        raise ConfigError(f"--margin {margin} for {metric}: a margin is how much worse is tolerated, a number >= 0")
    column, statistic = statistic_of(metric)
    sign = -1.0 if lower_is_better(metric) else 1.0
    missing = [run.run_id for run in (baseline, candidate) if column not in run.table]
    if missing:
        known = quality_columns(baseline.table) + ["latency_total_p95_ms", "latency_total_p50_ms", "cost_per_1m_events"]
        raise ConfigError(
            f"--metric {metric}: run(s) {', '.join(missing)} have no per-question values for it; choose from {known}"
        )
    a, b = aligned(baseline, candidate, column)
    if not len(a):
        raise DataError(
            f"{metric}: the runs {baseline.run_id} and {candidate.run_id} share no question with a value "
            f"for it; gate on a metric both have, on the same eval set"
        )
    if lower_is_better(metric):
        before, after = baseline.metrics.get(metric, np.nan), candidate.metrics.get(metric, np.nan)
    else:
        before, after = float(np.mean(a)), float(np.mean(b))
    bound = lower_bound(sign * paired_draws(a, b, statistic), 1 - alpha)
    return Check(metric, margin, before, after, len(a), bound, bool(bound >= -margin))


def gate(baseline: RunData, candidate: RunData, metrics: list[str], margins: list[float], alpha: float = 0.05) -> GateReport:
    if len(margins) == 1:
        margins = margins * len(metrics)
    twice = next((m for i, m in enumerate(metrics) if m in metrics[:i]), None)
    if twice:  # two margins for one metric: which one holds?
        raise ConfigError(f"--metric {twice} is given twice; give each metric once, with its --margin")
    if len(margins) != len(metrics):
        raise ConfigError(f"{len(metrics)} --metric and {len(margins)} --margin: give one margin for all, or one per metric")
    return GateReport(
        baseline.run_id, candidate.run_id, alpha, [check(baseline, candidate, m, g, alpha) for m, g in zip(metrics, margins)]
    )


def log_gate(report: GateReport, experiment_id: str, baseline_ref: str) -> str:
    """A run of its own under the candidate (tags, per-metric bounds, the table), and the verdict tagged on the candidate."""
    import mlflow

    client = mlflow.MlflowClient()
    verdict = "pass" if report.passed else "fail"
    run = client.create_run(
        experiment_id,
        run_name=f"gate:{baseline_ref}",
        tags={
            "workbench.kind": "gate",
            "mlflow.parentRunId": report.candidate,
            "baseline_run": report.baseline,
            "baseline": baseline_ref,
            "candidate_run": report.candidate,
            "verdict": verdict,
        },
    )
    for c in report.checks:
        client.log_param(run.info.run_id, f"margin.{c.metric}", c.margin)
        client.log_metric(run.info.run_id, f"{c.metric}_bound", c.bound)
        client.log_metric(run.info.run_id, f"{c.metric}_passed", float(c.passed))
    client.log_table(run.info.run_id, report.frame(), "gate.json")
    client.set_terminated(run.info.run_id, "FINISHED")
    client.set_tag(report.candidate, f"workbench.gate.{baseline_ref}", verdict)
    return run.info.run_id
