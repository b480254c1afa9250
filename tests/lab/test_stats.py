"""The statistics behind intervals, paired comparisons, the front under uncertainty and the gate, on numbers
whose answer is known (scipy as the reference, or a simulation of the interval's coverage)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sp

from workbench.lab.compare import significant_front
from workbench.lab.gate import check, gate
from workbench.lab.paired import RunData, against_baseline, difference
from workbench.lab.stats import bootstrap_ci, holm, paired_test, t_interval


def run(name, values, latency=None, repeat=None, order=None):
    """A RunData over questions q0..qn with one quality column and a latency column."""
    n = len(values)
    latency = latency if latency is not None else [100.0] * n
    table = pd.DataFrame(
        {
            "case_id": [f"q{i}" for i in range(n)],
            "turn": 0,
            "repeat": repeat if repeat is not None else 0,
            "ndcg_at_10": values,
            "latency_total_ms": latency,
        }
    )
    if order is not None:
        table = table.iloc[order].reset_index(drop=True)
    metrics = {"latency_total_p95_ms": float(np.quantile(latency, 0.95))}
    return RunData(name, name, table, metrics)


def test_bootstrap_interval_covers_the_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(300):
        sample = rng.normal(0.5, 0.2, 40)
        low, high = bootstrap_ci(sample)
        hits += low <= 0.5 <= high
    assert 0.89 <= hits / 300 <= 0.99
    assert bootstrap_ci([0.3, 0.9, 0.5]) == bootstrap_ci([0.3, 0.9, 0.5])  # seeded: the same runs, the same interval
    assert np.isnan(bootstrap_ci([0.7])[0])  # one value has no spread to sample


def test_t_interval_matches_scipy() -> None:
    x = [10.0, 12.0, 11.0]
    assert t_interval(x) == pytest.approx(sp.t.interval(0.95, 2, loc=np.mean(x), scale=sp.sem(x)))


def test_hit_type_metrics_get_mcnemars_exact_test() -> None:
    base = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0] * 2
    cand = [1, 1, 0, 0, 0, 0, 0, 1, 0, 1] * 2  # 10 lost, 2 gained
    t = paired_test(base, cand, hit=True)
    assert t.test == "mcnemar-exact" and t.n == 20
    assert paired_test(base, cand).test == "wilcoxon"  # a continuous metric whose values happen to be 0 or 1
    assert t.p_value == pytest.approx(sp.binomtest(2, 12, 0.5).pvalue)
    assert t.effect_size == pytest.approx((2 - 10) / 12) and t.diff == pytest.approx(-0.4)
    assert t.ci_low < t.diff < t.ci_high < 0


def test_continuous_metrics_get_wilcoxon_and_identical_runs_nothing() -> None:
    rng = np.random.default_rng(2)
    base = rng.uniform(0, 1, 30)
    cand = base + rng.normal(0.1, 0.05, 30)
    t = paired_test(base, cand)
    assert t.test == "wilcoxon" and t.p_value == pytest.approx(sp.wilcoxon(cand - base).pvalue)
    assert t.effect_size > 0.8
    same = paired_test(base, base)
    assert (same.p_value, same.diff, same.effect_size) == (1.0, 0.0, 0.0)


def test_holm_by_hand() -> None:
    assert holm([0.01, 0.04, 0.03, np.nan]) == pytest.approx([0.03, 0.06, 0.06, np.nan], nan_ok=True)


def test_pairs_follow_questions_not_row_order() -> None:
    values = list(np.linspace(0, 1, 12))
    d = difference(run("a", values), run("b", values, order=list(range(12))[::-1]), "ndcg_at_10")
    assert d.n == 12 and d.diff == 0 and not d.significant


def test_significance_is_judged_and_small_latency_differences_are_not_called() -> None:
    base = run("base", [1.0] * 30, latency=list(np.linspace(100, 130, 30)))
    worse = run("worse", [1.0] * 10 + [0.0] * 20, latency=list(np.linspace(100, 130, 30) + 5))  # 4% slower
    faster = run("faster", [1.0] * 30, latency=list(np.linspace(100, 130, 30) / 2))
    for r in (worse, faster):
        r.metrics["latency_total_p95_ms"] = float(np.quantile(r.table["latency_total_ms"], 0.95))
    diffs = against_baseline(base, [worse, faster], ["ndcg_at_10", "latency_total_p95_ms"])
    verdict = {(r.name, r.metric): (r.significant, r.better) for r in diffs.itertuples()}
    assert verdict[("worse", "ndcg_at_10")] == (True, False)
    assert verdict[("worse", "latency_total_p95_ms")] == (False, False)  # consistent, but within the 20% tolerance
    assert verdict[("faster", "latency_total_p95_ms")] == (True, True)
    assert verdict[("faster", "ndcg_at_10")] == (False, False)


def test_the_front_keeps_runs_that_differ_only_by_noise() -> None:
    rng = np.random.default_rng(3)
    values = rng.uniform(0, 1, 40)
    a = run("a", list(values))
    b = run("b", list(np.clip(values + rng.normal(0, 0.01, 40), 0, 1)))  # noise-level difference
    c = run("c", list(values * 0.5))  # clearly worse, same latency
    runs = {"a": a, "b": b, "c": c}
    frame = pd.DataFrame(
        {"run_id": list(runs), "name": list(runs), "ndcg_at_10": [r.table["ndcg_at_10"].mean() for r in runs.values()]}
    )
    front, beaten_by = significant_front(frame, runs, "ndcg_at_10", [])
    assert front == [True, True, False] and beaten_by[2] in ("a", "b")
    frame["latency_total_p95_ms"] = [100.0, 100.0, 50.0]  # c is worse, but faster: a trade-off, on the front
    c.metrics["latency_total_p95_ms"] = 50.0
    assert significant_front(frame, runs, "ndcg_at_10", ["latency_total_p95_ms"])[0] == [True, True, True]


def test_gate_non_inferiority() -> None:
    rng = np.random.default_rng(4)
    values = list(rng.uniform(0.3, 1, 40))
    base = run("base", values)
    assert check(base, run("same", values, order=list(range(40))[::-1]), "ndcg_at_10", 0.01).passed
    worse = run("worse", [v - 0.1 for v in values])
    failed = check(base, worse, "ndcg_at_10", 0.01)
    assert not failed.passed and failed.bound == pytest.approx(-0.1)
    assert check(base, worse, "ndcg_at_10", 0.2).passed  # a margin wider than the loss: tolerated
    slower = run("slower", values, latency=[200.0] * 40)
    slower.metrics["latency_total_p95_ms"] = 200.0
    report = gate(base, slower, ["ndcg_at_10", "latency_total_p95_ms"], [0.01, 50.0])
    assert [c.passed for c in report.checks] == [True, False] and not report.passed
    with pytest.raises(ValueError, match="one margin for all, or one per metric"):
        gate(base, slower, ["ndcg_at_10", "latency_total_p95_ms"], [0.01, 1.0, 2.0])
    with pytest.raises(ValueError, match="share no question"):
        check(base, RunData("x", "x", base.table.assign(case_id="elsewhere " + base.table["case_id"])), "ndcg_at_10", 0.01)


def test_diff_lists_changed_hits_and_answers_whatever_the_order() -> None:
    from workbench.lab.rundiff import as_table, changed

    def answered(name, rows, order=None):
        table = pd.DataFrame(
            [
                {
                    "case_id": c,
                    "turn": 0,
                    "repeat": 0,
                    "question": f"q {c}",
                    "retrieved": hits,
                    "answer": ans,
                    "ndcg_at_10": score,
                }
                for c, hits, ans, score in rows
            ]
        )
        return RunData(name, name, table.iloc[order or list(range(len(table)))].reset_index(drop=True))

    a = answered("a", [("c1", ["d1", "d2"], "x", 1.0), ("c2", ["d3"], "y", 0.5), ("c3", ["d4"], "z", 0.0)])
    b = answered("b", [("c1", ["d1", "d2"], "x", 1.0), ("c2", ["d3"], "y2", 0.5), ("c3", ["d5"], "z", 0.0)], order=[2, 1, 0])
    records = changed(a, b)
    assert [(r["case_id"], r["changed"]) for r in records] == [("c2", ["answer"]), ("c3", ["hits"])]
    assert records[1]["hits_b"] == ["d5"] and records[1]["scores_a"] == {"ndcg_at_10": 0.0}
    assert "2 questions changed" in as_table(records, a, b)
    with pytest.raises(ValueError, match="share no question"):
        changed(a, answered("other", [("c9", ["d1"], "x", 1.0)]))


def test_identical_runs_pass_a_zero_margin_and_a_margin_must_be_a_number() -> None:
    values = [0.2, 0.9, 0.5, 0.7]
    assert check(run("base", values), run("same", values), "ndcg_at_10", 0.0).passed  # not worse by more than 0
    for margin in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match=f"--margin {margin} for ndcg_at_10"):
            check(run("base", values), run("same", values), "ndcg_at_10", margin)


def test_questions_pair_on_their_text_too_not_on_ids_alone() -> None:
    """Two eval sets may number their cases alike (c0, c1, ...): a shared id with another question is no pair."""
    from workbench.lab.rundiff import changed

    def asked(name, questions):
        r = run(name, [0.5] * len(questions))
        r.table = r.table.assign(question=questions, retrieved=[["d"]] * len(questions), answer="x")
        return r

    base = asked("base", ["q a", "q b", "q c", "q d"])
    edited = asked("edited", ["q a", "q b", "q c", "another"])
    assert difference(base, edited, "ndcg_at_10").n == 3 and check(base, edited, "ndcg_at_10", 0.0).n == 3
    other = asked("other", ["w", "x", "y", "z"])
    assert difference(base, other, "ndcg_at_10").n == 0
    with pytest.raises(ValueError, match="share no question"):
        check(base, other, "ndcg_at_10", 0.01)
    with pytest.raises(ValueError, match="share no question"):
        changed(base, other)


def test_a_metric_gated_twice_or_a_quality_axis_that_is_a_cost_is_refused() -> None:
    from workbench.lab.compare import compare

    values = [0.2, 0.9, 0.5, 0.7]
    with pytest.raises(ValueError, match="--metric ndcg_at_10 is given twice"):
        gate(run("base", values), run("same", values), ["ndcg_at_10", "ndcg_at_10"], [0.01, 0.5])
    for metric in ("latency_total_p95_ms", "decline_rate"):
        with pytest.raises(ValueError, match=f"--quality {metric}: lower is better"):
            compare("0", metric)
