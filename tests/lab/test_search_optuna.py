"""Optuna search over a sweep spec's space: each trial an MLflow run under the search's parent, resumed from the
study's RDB storage, the Pareto front of compare equal to the study's best trials, bad specs explained."""

import mlflow
import optuna
import pytest
from conftest import Interrupt, sweep_spec
from typer.testing import CliRunner

from workbench.cli import app
from workbench.errors import SearchError, SweepSpecError, UsageError
from workbench.lab import tracking
from workbench.lab.compare import runs_frame, search_objectives
from workbench.lab.search_optuna import default_storage, run_search
from workbench.lab.sweep import SweepSpec

OBJECTIVES = ["ndcg_at_10:max", "cost_per_1m_events:min"]


def spec_file(tmp_path, corpus, search, **extra):
    return sweep_spec(tmp_path, corpus, name="opt", limit=6, search=search, **extra)


def test_trials_are_runs_under_one_parent_resumed_from_the_study(tmp_path, workspace, squad_subset) -> None:
    space = {"retrieval.top_k": {"low": 1, "high": 8}, "reasoner.max_sentences": [1, 2]}
    spec = SweepSpec.from_yaml(spec_file(tmp_path, squad_subset, {"objectives": OBJECTIVES, "space": space}))
    seen = []

    def stop_after_two(config_id):
        seen.append(config_id)
        if len(seen) == 2:
            raise Interrupt  # as if Ctrl-C came right after the second trial's run was logged

    with pytest.raises(Interrupt):
        run_search(spec, workspace, trials=3, progress=False, on_point_done=stop_after_two)
    report = run_search(spec, workspace, trials=5, progress=False)
    assert report.trials == 5

    study = optuna.load_study(study_name=report.study, storage=default_storage(workspace))
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 5 and states.count(optuna.trial.TrialState.FAIL) == 1
    [failed] = study.get_trials(states=[optuna.trial.TrialState.FAIL])  # the interrupted trial: its run was logged,
    assert failed.user_attrs["config_id"] in {t.user_attrs["config_id"] for t in study.trials if t.values}  # so it counts
    experiment_id = tracking.connect(workspace)
    runs = mlflow.search_runs([experiment_id], filter_string="tags.`workbench.kind` = 'evaluation'")
    assert set(runs["tags.mlflow.parentRunId"]) == {report.parent_run_id}
    assert runs["tags.config_id"].is_unique  # the interrupted trial's configuration was not evaluated twice
    by_run = runs.set_index("run_id")
    for trial in study.get_trials(states=[optuna.trial.TrialState.COMPLETE]):
        run = by_run.loc[trial.user_attrs["mlflow_run_id"]]
        assert int(run["params.retrieval.top_k"]) == trial.params["retrieval.top_k"]
        assert trial.values == [run["metrics.ndcg_at_10"], run["metrics.cost_per_1m_events"]]
    assert set(report.pareto) == {t.user_attrs["mlflow_run_id"] for t in study.best_trials}

    assert search_objectives(experiment_id, "opt") == OBJECTIVES
    frame = runs_frame(experiment_id, filter_string="tags.sweep_name = 'opt'", objectives=OBJECTIVES)
    assert set(frame.loc[frame["pareto"], "run_id"]) == set(report.pareto)  # compare shows the study's front
    again = run_search(spec, workspace, trials=5, progress=False)
    assert again.ran == [] and again.trials == 5 and again.parent_run_id == report.parent_run_id


def test_invalid_points_are_pruned_with_the_reason_under_nsga2(tmp_path, workspace, squad_subset) -> None:
    """(Trials in parallel, two at a time: tests/lab/test_ray_executor.py.)"""
    space = {"retrieval.chunking.size": [300, 600], "retrieval.chunking.overlap": [0, 400]}
    spec = SweepSpec.from_yaml(spec_file(tmp_path, squad_subset, {"sampler": "nsga2", "population": 4, "space": space}))
    report = run_search(spec, workspace, trials=6, progress=False)
    study = optuna.load_study(study_name=report.study, storage=default_storage(workspace))
    pruned = study.get_trials(states=[optuna.trial.TrialState.PRUNED])
    assert pruned and all(t.params == {"retrieval.chunking.size": 300, "retrieval.chunking.overlap": 400} for t in pruned)
    assert len(report.invalid) == len(pruned) and "overlap (400) must be smaller than size (300)" in report.invalid[0]
    complete = study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    assert report.trials == 6 and len(complete) + len(pruned) == 6
    assert len(report.ran) == len({t.user_attrs["config_id"] for t in complete}) <= 3  # each configuration once


def test_an_objective_the_evaluation_lacks_is_named(tmp_path, workspace, squad_subset) -> None:
    spec = SweepSpec.from_yaml(
        spec_file(tmp_path, squad_subset, {"objectives": ["faithfulness:max"], "space": {"retrieval.top_k": [3]}})
    )
    with pytest.raises(SearchError, match=r"objective 'faithfulness'.*choose among \[.*'ndcg_at_10'"):
        run_search(spec, workspace, trials=1, progress=False)
    with pytest.raises(SearchError, match=r"cannot open the Optuna storage nosuch://u:\*\*\*@host/db"):
        run_search(spec, workspace, trials=1, progress=False, storage="nosuch://u:pw@host/db")


@pytest.mark.parametrize(
    "search, message",
    [
        ({"objectives": ["ndcg_at_10"]}, "metric:max or metric:min"),
        ({"objectives": ["ndcg_at_10:max", "ndcg_at_10:min"]}, "appears twice"),
        ({"space": {"retrieval.top_k": []}}, "empty list of choices"),
        ({"space": {"retrieval.top_k": {"low": 5, "high": 2}}}, r"low \(5\) must be below high \(2\)"),
        ({"space": {"retrieval.filter": [{"a": 1}]}}, "choices must be numbers, strings"),
        ({"space": {"index.hnsw.search_ef": {"low": 0, "high": 9, "log": True}}}, "log needs low > 0"),
        ({"sampler": "grid"}, "search.sampler"),
    ],
)
def test_bad_search_sections_are_explained(tmp_path, squad_subset, search, message) -> None:
    with pytest.raises(SweepSpecError, match=message):
        SweepSpec.from_yaml(spec_file(tmp_path, squad_subset, search))


def test_the_cli_searches_and_refuses_mixed_flags(tmp_path, squad_subset) -> None:
    path = spec_file(tmp_path, squad_subset, {"space": {"retrieval.top_k": [2, 4]}})
    runner = CliRunner()
    home = ["--home", str(tmp_path / "ws")]
    done = runner.invoke(app, ["sweep", str(path), "--search", "optuna", "--trials", "2", *home])
    assert done.exit_code == 0, done.output
    assert "2 trials finished" in done.stdout and "Pareto front: " in done.stdout
    assert isinstance(runner.invoke(app, ["sweep", str(path), *home]).exception, SweepSpecError)  # no grid to sweep
    for flags in (["--search", "optuna"], ["--trials", "2"], ["--search", "random"], ["--storage", "sqlite:///x.db"]):
        refused = runner.invoke(app, ["sweep", str(path), *flags, *home])
        assert isinstance(refused.exception, UsageError), flags
    no_space = runner.invoke(
        app,
        [
            "sweep",
            str(spec_file(tmp_path, squad_subset, {}, grid={"retrieval.top_k": [1]})),
            "--search",
            "optuna",
            "--trials",
            "1",
            *home,
        ],
    )
    assert no_space.exit_code == 0, no_space.output  # no space: the grid's lists are the choices
