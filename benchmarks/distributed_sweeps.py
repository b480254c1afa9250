"""Sweeps beyond one process: Ray against local processes, and an Optuna search against the full grid.

    python benchmarks/distributed_sweeps.py ray      # 16 points: a local Ray cluster (2 CPUs) against -j 2 processes
    python benchmarks/distributed_sweeps.py optuna   # 16 Optuna trials against the 48-point grid, best nDCG@10
    python benchmarks/distributed_sweeps.py replay --home WS   # the sampler on a finished grid's metrics, many seeds

Targets (issue 16): Ray <= 1.2 x the time of -j 2 processes, measured in one run; the search's best nDCG@10
within 0.01 of the grid's best. Every run starts from an empty workspace (model loads, index builds, MLflow logging
included); Ray's time includes starting and stopping the cluster, as `workbench sweep --executor ray` does.
Spec: experiments/search_sweep.yaml (MiniLM, 40 SQuAD questions on two articles).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from workbench.lab import tracking
from workbench.lab.search_optuna import run_search
from workbench.lab.sweep import SweepSpec, run_sweep
from workbench.workspace import Workspace

SPEC = "experiments/search_sweep.yaml"


def timed_sweep(spec: SweepSpec, executor: str) -> tuple[float, dict[str, float]]:
    """Seconds for the sweep from an empty workspace, and each point's nDCG@10."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp))
        start = time.perf_counter()
        report = run_sweep(spec, ws, jobs=2, executor=executor, progress=False)
        seconds = time.perf_counter() - start
        runs = mlflow.search_runs([tracking.connect(ws)], filter_string="tags.`workbench.kind` = 'evaluation'")
        assert len(report.ran) == len(runs) == 16, (report.ran, len(runs))
        return seconds, dict(zip(runs["tags.config_id"], runs["metrics.ndcg_at_10"]))


def ray_against_processes(spec: SweepSpec, rounds: int) -> None:
    spec = spec.model_copy(update={"grid": {**spec.grid, "retrieval.chunking.size": [800], "retrieval.top_k": [3, 10]}})
    assert len(spec.expand()) == 16
    times: dict[str, list[float]] = {"process": [], "ray": []}
    ndcg: dict[str, dict[str, float]] = {}
    for _ in range(rounds):  # alternated, so drift in the machine's load falls on both
        for executor in ("process", "ray"):
            seconds, ndcg[executor] = timed_sweep(spec, executor)
            times[executor].append(seconds)
    differ = max(abs(ndcg["ray"][c] - ndcg["process"][c]) for c in ndcg["process"])
    best = {k: min(v) for k, v in times.items()}
    print(
        f"16 points, -j 2: processes {', '.join(f'{t:.1f}' for t in times['process'])} s; "
        f"ray {', '.join(f'{t:.1f}' for t in times['ray'])} s"
    )
    print(
        f"best of {rounds}: ray / processes = {best['ray']:.1f} / {best['process']:.1f} = {best['ray'] / best['process']:.2f} "
        f"(target <= 1.2); largest nDCG@10 difference between the two for one point: {differ}"
    )


def optuna_against_grid(spec: SweepSpec, trials: int, grid_home: Path | None) -> None:
    import mlflow

    with tempfile.TemporaryDirectory() as searched_in, tempfile.TemporaryDirectory() as swept_in:
        start = time.perf_counter()
        found = run_search(spec, Workspace(Path(searched_in)), trials=trials, jobs=2, progress=False)
        searched = time.perf_counter() - start
        trial_runs = mlflow.search_runs(
            [tracking.connect(Workspace(Path(searched_in)))],
            filter_string=(f"tags.`mlflow.parentRunId` = '{found.parent_run_id}'"),
        )
        start = time.perf_counter()
        grid_ws = Workspace(grid_home or Path(swept_in))  # a grid swept before is found finished, not run again
        grid = run_sweep(spec, grid_ws, jobs=2, progress=False)
        swept = time.perf_counter() - start
        grid_runs = mlflow.search_runs([tracking.connect(grid_ws)], filter_string="tags.`workbench.kind` = 'evaluation'")
        grid_runs = grid_runs[grid_runs["tags.config_id"].isin(set(grid.run_ids))]
    best_grid, best_search = grid_runs["metrics.ndcg_at_10"].max(), trial_runs["metrics.ndcg_at_10"].max()
    print(f"grid: {len(grid_runs)} points ({len(grid.ran)} run now, in {swept:.0f} s), best nDCG@10 {best_grid:.4f}")
    print(
        f"optuna ({spec.search.sampler}, objectives {', '.join(spec.search.objectives)}): {found.trials} trials "
        f"({len(trial_runs)} distinct configurations) in {searched:.0f} s, best nDCG@10 {best_search:.4f}; "
        f"gap {best_grid - best_search:.4f} (target <= 0.01); Pareto front of {len(set(found.pareto))}"
    )


def replay(spec: SweepSpec, home: Path, trials: int, seeds: int) -> None:
    """The search's sampler replayed on a finished grid's logged metrics (no evaluation): the gap over many seeds."""
    import mlflow
    import optuna

    from workbench.lab.search_optuna import sampler, suggest

    experiment_id = tracking.connect(Workspace(home))
    runs = mlflow.search_runs([experiment_id], filter_string="tags.`workbench.kind` = 'evaluation'").set_index("tags.config_id")
    best = runs["metrics.ndcg_at_10"].max()
    base, names = spec.base_config(), spec.search.metrics()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    gaps = []
    for seed in range(seeds):
        study = optuna.create_study(directions=spec.search.directions(), sampler=sampler(spec.search, seed))
        study.optimize(
            lambda t: [
                runs.loc[
                    spec.point_config(base, {k: suggest(t, k, d) for k, d in spec.search.space.items()}).config_id, f"metrics.{m}"
                ]
                for m in names
            ],
            n_trials=trials,
        )
        gaps.append(best - max(t.values[0] for t in study.trials))
    gaps.sort()
    print(
        f"{spec.search.sampler}, objectives {', '.join(names)}, {trials} trials, {seeds} seeds: gap to the grid's best nDCG@10 {best:.4f}: median "
        f"{gaps[len(gaps) // 2]:.4f}, worst {gaps[-1]:.4f}, within 0.01 in {sum(g <= 0.01 for g in gaps)} of {seeds}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("ray", "optuna", "replay"))
    parser.add_argument("--home", type=Path, help="replay (and optionally optuna): the workspace of a grid sweep of the spec")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--objectives", nargs="+", help="optuna, replay: these objectives instead of the spec's")
    parser.add_argument("--spec", default=SPEC)
    parser.add_argument("--rounds", type=int, default=2, help="ray: alternated rounds of each executor")
    parser.add_argument("--trials", type=int, default=16)
    args = parser.parse_args()
    spec = SweepSpec.from_yaml(args.spec)
    if args.objectives:
        spec = spec.model_copy(update={"search": spec.search.model_copy(update={"objectives": args.objectives})})
    if args.what == "ray":
        ray_against_processes(spec, args.rounds)
    elif args.what == "replay":
        replay(spec, args.home, args.trials, args.seeds)
    else:
        optuna_against_grid(spec, args.trials, args.home)


if __name__ == "__main__":
    main()
