"""Two evaluation runs, question by question: paired differences, tests, effect sizes, and what is significant.

Quality pairs each question's value (its mean over repeats) in the two runs: a bootstrap interval of the mean
difference, Wilcoxon's signed-rank test (or McNemar's exact test for hit-type metrics), the rank-biserial effect.
Latency and cost (run-level figures: a percentile, a mean) get a paired bootstrap over questions of the figure's
difference, each question's latency its mean over repeats. They also move with the machine's load between runs,
which resampling questions does not see: a difference is called significant only beyond TOLERANCE, the
reproducibility the latency accounting is tested to (tests/lab/test_latency_accounting.py). p-values are
Holm-adjusted across the comparisons made together.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from workbench.lab.scorers import is_hit
from workbench.lab.stats import Paired, bootstrap_p, holm, paired_draws, paired_test
from workbench.lab.summary import QUESTION, lower_is_better, statistic_of

ALPHA = 0.05
TOLERANCE = 0.20  # relative; latency and cost differences smaller than this are within the measurement's reproducibility


@dataclass
class RunData:
    run_id: str
    name: str
    table: Any  # the per-question table, one row per question and repeat
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def repeats(self) -> int:
        return int(self.table["repeat"].nunique())

    @cached_property
    def asked(self) -> Any:
        """Each question's text, indexed by (case_id, turn) ("" for a table without the text)."""
        if "question" not in self.table:
            return self.table.groupby(QUESTION).size().map(lambda _: "")
        return self.table.groupby(QUESTION)["question"].first()

    def by_question(self, column: str) -> Any:
        """A question's value, averaged over repeats, indexed by (case_id, turn)."""
        return self.table.groupby(QUESTION)[column].mean() if column in self.table else None


@lru_cache(maxsize=256)  # a finished run's table never changes; compare and the front read each run once
def load_run(run_id: str) -> RunData:
    import mlflow

    from workbench.lab import tracking

    run = mlflow.get_run(run_id)
    return RunData(
        run_id, run.data.tags.get("config_name", run.info.run_name), tracking.per_question(run_id), dict(run.data.metrics)
    )


def resolve_run(ref: str, experiment_id: str) -> str:
    """A run id, a promoted name (`workbench promote`), a configuration name (its latest evaluation run), or the
    start of an evaluation run's id (the tables show eight characters)."""
    import mlflow

    from workbench.lab import tracking

    try:
        return mlflow.get_run(ref).info.run_id
    except Exception:  # noqa: BLE001 - not a run id; try it as a name
        pass
    for tag in (f"tags.`{tracking.PROMOTED_TAG}`", "tags.config_name"):
        runs = mlflow.search_runs(
            [experiment_id],
            output_format="list",
            max_results=1,
            order_by=["attributes.start_time DESC"],
            filter_string=f"{tag} = {tracking.literal(ref)} and tags.`workbench.kind` = 'evaluation'",
        )
        if runs:
            return runs[0].info.run_id
    if re.fullmatch("[0-9a-f]{4,31}", ref):
        evaluations = mlflow.search_runs(
            [experiment_id], output_format="list", filter_string="tags.`workbench.kind` = 'evaluation'"
        )
        starting = [r.info.run_id for r in evaluations if r.info.run_id.startswith(ref)]
        if len(starting) > 1:
            raise tracking.TrackingError(f"{ref!r} starts {len(starting)} run ids ({', '.join(starting)}); give more of it")
        if starting:
            return starting[0]
    raise tracking.TrackingError(
        f"{ref!r} is neither a run id, a promoted name nor a configuration name in this experiment; "
        "`workbench compare` lists the runs"
    )


@dataclass(frozen=True)
class Difference(Paired):
    """Candidate minus baseline on one metric; for latency and cost `effect_size` is the relative difference."""

    metric: str = ""
    baseline: float = np.nan
    candidate: float = np.nan
    significant: bool = False

    @property
    def better(self) -> bool:
        """Significantly better for the candidate (lower latency and cost, higher quality)."""
        return self.significant and (self.diff < 0 if lower_is_better(self.metric) else self.diff > 0)


def same_questions(base: RunData, cand: RunData) -> Any:
    """The (case_id, turn) keys both runs asked with the same text. Two eval sets may number their cases alike
    (c0, c1, ...), so an id alone does not make a pair; a question reworded, or redacted in one run only, is
    another question."""
    a, b = base.asked, cand.asked
    common = a.index.intersection(b.index)
    return common[(a.loc[common].to_numpy() == b.loc[common].to_numpy())]


def aligned(base: RunData, cand: RunData, column: str) -> tuple[np.ndarray, np.ndarray]:
    """The two runs' values on the questions both have a value for, in the same order (whatever order each run asked them in)."""
    a, b = base.by_question(column), cand.by_question(column)
    if a is None or b is None:
        return np.empty(0), np.empty(0)
    joined = a.to_frame("a").join(b.to_frame("b"), how="inner")
    joined = joined[joined.index.isin(same_questions(base, cand))].dropna()  # a question without a value has nothing to pair
    return joined["a"].to_numpy(dtype=float), joined["b"].to_numpy(dtype=float)


def difference(base: RunData, cand: RunData, metric: str) -> Difference:
    column, statistic = statistic_of(metric)
    a, b = aligned(base, cand, column)
    if not lower_is_better(metric):
        means = (float(a.mean()), float(b.mean())) if len(a) else (np.nan, np.nan)
        return Difference(**asdict(paired_test(a, b, is_hit(metric))), metric=metric, baseline=means[0], candidate=means[1])
    before, after = base.metrics.get(metric, np.nan), cand.metrics.get(metric, np.nan)
    draws = paired_draws(a, b, statistic)
    low, high = np.quantile(draws, [ALPHA / 2, 1 - ALPHA / 2]) if len(draws) else (np.nan, np.nan)
    diff = after - before
    return Difference(
        len(a),
        diff,
        float(low),
        float(high),
        bootstrap_p(draws),
        "paired bootstrap",
        diff / before if before else np.nan,
        metric=metric,
        baseline=before,
        candidate=after,
    )


def judged(differences: list[Difference]) -> list[Difference]:
    """Mark what is significant, with the p-values Holm-adjusted across `differences` (one family of comparisons)."""
    adjusted = holm([d.p_value for d in differences])
    out = []
    for d, p in zip(differences, adjusted):
        large = not lower_is_better(d.metric) or abs(d.effect_size) >= TOLERANCE
        out.append(replace(d, p_value=p, significant=bool(p < ALPHA and large)))
    return out


def against_baseline(baseline: RunData, candidates: list[RunData], metrics: list[str]) -> Any:
    """One row per candidate and metric, significance judged per metric across the candidates."""
    import pandas as pd

    rows = []
    for metric in metrics:
        found = judged([difference(baseline, c, metric) for c in candidates])
        rows += [{"run_id": c.run_id, "name": c.name, **d.__dict__, "better": d.better} for c, d in zip(candidates, found)]
    return pd.DataFrame(rows)


def latest_run(experiment_id: str, other_than: str) -> str:
    """The most recent finished evaluation run that is not `other_than` (the gate's default candidate)."""
    import mlflow

    from workbench.lab import tracking

    runs = mlflow.search_runs(
        [experiment_id],
        output_format="list",
        max_results=2,
        order_by=["attributes.start_time DESC"],
        filter_string="tags.`workbench.kind` = 'evaluation' and attributes.status = 'FINISHED'",
    )
    found = next((r.info.run_id for r in runs if r.info.run_id != other_than), None)
    if found is None:
        raise tracking.TrackingError(
            "no evaluation run to gate besides the baseline; run `workbench eval` first, or pass --candidate"
        )
    return found
