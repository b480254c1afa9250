"""Sweeps: expansion and spec errors, interruption and resume, parallel points, compare and promote."""

import sqlite3
from collections import Counter

import conftest
import mlflow
import pytest
import yaml
from conftest import Interrupt, sweep_spec

from workbench.errors import SweepSpecError
from workbench.lab import tracking
from workbench.lab.compare import runs_frame
from workbench.lab.sweep import SweepSpec, run_sweep
from workbench.registry import register

register("embedder", "counting", "conftest:build_counting_embedder")


def spec_file(tmp_path, corpus, embedder="counting", **extra):
    return sweep_spec(tmp_path, corpus, name="two", limit=10, embedder=embedder, grid={"retrieval.top_k": [3, 5]}, **extra)


def test_interrupted_sweep_resumes_without_rerunning_or_reembedding(tmp_path, workspace, squad_subset) -> None:
    spec = SweepSpec.from_yaml(spec_file(tmp_path, squad_subset))
    first, second = (c.config_id for c in spec.expand())
    conftest.EMBEDDED_TEXTS.clear()

    def stop(config_id):
        raise Interrupt(config_id)  # as if Ctrl-C came right after the first point was logged

    with pytest.raises(Interrupt):
        run_sweep(spec, workspace, progress=False, on_point_done=stop)
    resumed = run_sweep(spec, workspace, progress=False)
    assert resumed.skipped == [first] and resumed.ran == [second]

    experiment_id = tracking.connect(workspace)
    runs = mlflow.search_runs([experiment_id], filter_string="tags.`workbench.kind` = 'evaluation'")
    assert sorted(runs["tags.config_id"]) == sorted([first, second])  # each point ran exactly once
    assert set(runs["tags.mlflow.parentRunId"]) == {resumed.parent_run_id}  # one tree across both invocations
    twice = [t for t, n in Counter(conftest.EMBEDDED_TEXTS).items() if n > 1]
    assert not twice, f"embedded more than once: {twice}"
    with sqlite3.connect(workspace.embedding_cache) as db:
        assert db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == len(conftest.EMBEDDED_TEXTS)

    again = run_sweep(spec, workspace, progress=False)
    assert again.ran == [] and again.embedded == 0 and again.parent_run_id == resumed.parent_run_id


def test_parallel_points_and_compare_and_promote(tmp_path, workspace, squad_subset) -> None:
    spec = SweepSpec.from_yaml(spec_file(tmp_path, squad_subset, embedder="hashing"))
    report = run_sweep(spec, workspace, jobs=2, progress=False)
    assert len(report.ran) == 2

    experiment_id = tracking.connect(workspace)
    frame = runs_frame(experiment_id)
    assert list(frame["retrieval.top_k"].astype(int).sort_values()) == [3, 5]
    assert "embedder.kind" not in frame  # only differing config columns are shown
    assert frame["pareto"].any()

    chosen = frame.sort_values("ndcg_at_10").iloc[-1]["run_id"]
    tracking.promote(chosen, "production", experiment_id)
    assert tracking.promoted_run("production", experiment_id) == chosen
    other = next(r for r in frame["run_id"] if r != chosen)
    tracking.promote(other, "production", experiment_id)  # the name moves
    assert tracking.promoted_run("production", experiment_id) == other
    with pytest.raises(tracking.TrackingError, match="workbench promote RUN_ID --name staging"):
        tracking.promoted_run("staging", experiment_id)


def test_repeats_in_a_spec_share_the_index_and_cache(tmp_path, workspace, squad_subset) -> None:
    path = spec_file(tmp_path, squad_subset, repeats=2, traces=False)
    spec = SweepSpec.from_yaml(path)
    conftest.EMBEDDED_TEXTS.clear()
    report = run_sweep(spec, workspace, progress=False)
    for run_id in report.run_ids.values():
        run = mlflow.get_run(run_id)
        assert run.data.tags["repeats"] == "2" and run.data.metrics["repeats"] == 2 and run.data.metrics["questions"] == 10
        assert sorted(set(tracking.per_question(run_id)["repeat"])) == [0, 1]
        assert "latency_total_p95_ms_ci_low" in run.data.metrics
        assert mlflow.search_traces(run_id=run_id, return_type="list") == []  # traces: false
    assert len(conftest.EMBEDDED_TEXTS) == len(set(conftest.EMBEDDED_TEXTS))  # a repeat embeds nothing again
    assert run_sweep(spec, workspace, progress=False).ran == []
    once = SweepSpec.from_yaml(spec_file(tmp_path, squad_subset, repeats=3, traces=False))
    assert len(run_sweep(once, workspace, progress=False).ran) == 2  # more repeats than the finished runs had: run again


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"grid": {}}, "needs `grid`"),
        ({"grid": {"retrieval.top_k": 3}}, "grid.retrieval.top_k"),
        ({"grid": {"retrieval.top_k": [0]}}, "point 0 (top_k=0)"),
        ({"grid": {"retrieval.nope": [1]}}, "retrieval.nope: unknown key"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"repeats": 0}, "repeats: Input should be greater than or equal to 1"),
    ],
)
def test_bad_specs_are_explained(tmp_path, squad_subset, patch, message) -> None:
    path = spec_file(tmp_path, squad_subset)
    data = {**yaml.safe_load(path.read_text()), **patch}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SweepSpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SweepSpec.from_yaml(path).expand()


def test_example_specs_expand() -> None:
    names = ("topk_sweep", "chunking_sweep", "hybrid_sweep", "search_sweep")
    sizes = {name: len(SweepSpec.from_yaml(f"experiments/{name}.yaml").expand()) for name in names}
    assert sizes == {"topk_sweep": 8, "chunking_sweep": 5, "hybrid_sweep": 5, "search_sweep": 48}
