"""Runs in MLflow, side by side: `compare`, `gate`, `diff`, `promote`, `ui`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from workbench.cli.options import MULTILINE, ExperimentOpt, HomeOpt, TrackingOpt, open_workspace, printable
from workbench.errors import UsageError

commands = typer.Typer()


def records(frame: Any) -> list[dict[str, Any]]:
    """A table as JSON records, NaN (a figure not known) as null: json.dumps would write NaN, which is not JSON."""
    return json.loads(frame.to_json(orient="records"))


@commands.command()
def compare(
    home: Optional[Path] = HomeOpt,
    tracking_uri: Optional[str] = TrackingOpt,
    experiment: str = ExperimentOpt,
    quality: str = typer.Option("ndcg_at_10", help="Quality metric for the Pareto front."),
    sweep_name: Optional[str] = typer.Option(None, "--sweep", help="Only the runs of this sweep."),
    baseline: Optional[str] = typer.Option(
        None, "--baseline", help="RUN_ID, promoted name or config name: paired tests of every run against it."
    ),
    out: Path = typer.Option(Path("experiments/runs/compare.png"), help="Where to save the plot."),
    as_json: bool = typer.Option(False, "--json", help="Print the runs and the paired differences as JSON."),
) -> None:
    """Table of runs with 95% intervals, the Pareto front of significant differences, paired tests against a baseline, a plot."""
    from workbench.lab import tracking
    from workbench.lab.compare import compare as compare_runs
    from workbench.lab.compare import search_objectives
    from workbench.lab.plots import plot_comparison

    experiment_id = tracking.connect(open_workspace(home), tracking_uri, experiment)
    objectives = search_objectives(experiment_id, sweep_name) if sweep_name else None  # an Optuna search's own front
    found = compare_runs(
        experiment_id, quality, f"tags.sweep_name = {tracking.literal(sweep_name)}" if sweep_name else "", baseline, objectives
    )
    if found.frame.empty and sweep_name:
        raise UsageError(f"no evaluation runs in sweep {sweep_name!r}; `workbench compare` without --sweep lists every run")
    if found.frame.empty:
        raise UsageError("no evaluation runs yet; run `workbench eval` or `workbench sweep experiments/topk_sweep.yaml`")
    png = plot_comparison(found.frame, quality, out, found.baseline.run_id if found.baseline else None)
    run_id = tracking.log_comparison(found.frame, png, experiment_id, sweep_name, found.differences)
    if as_json:
        shown = {
            "runs": records(found.frame),
            "baseline_run": found.baseline.run_id if found.baseline else None,
            "differences": records(found.differences) if found.baseline else None,
            "pareto_objectives": objectives,
            "plot": str(png),
            "comparison_run": run_id,
        }
        typer.echo(json.dumps(shown, indent=2))
        return
    typer.echo(found.text(quality))
    if objectives:
        typer.echo(f"pareto: the front of the search's objectives {', '.join(objectives)}")
    typer.echo(f"plot: {png} (logged to MLflow run {run_id})")


@commands.command("gate")
def gate_(
    baseline: str = typer.Option(..., "--baseline", help="RUN_ID, promoted name (e.g. production) or config name."),
    metric: list[str] = typer.Option(
        ..., "--metric", help="Metric that must not get worse (repeatable), e.g. ndcg_at_10, latency_total_p95_ms."
    ),
    margin: list[float] = typer.Option(
        ..., "--margin", help="How much worse is tolerated, in the metric's units: one for all, or one per --metric."
    ),
    candidate: Optional[str] = typer.Option(None, "--candidate", help="RUN_ID or name (default: the latest evaluation run)."),
    alpha: float = typer.Option(0.05, min=0.001, max=0.5, help="One-sided error rate of each bound."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
    home: Optional[Path] = HomeOpt,
    tracking_uri: Optional[str] = TrackingOpt,
    experiment: str = ExperimentOpt,
) -> None:
    """Non-inferiority gate for CI: exit 1 when a bound says the candidate may be worse than the baseline by more than the margin."""
    from workbench.lab import tracking
    from workbench.lab.gate import gate, log_gate
    from workbench.lab.paired import latest_run, load_run, resolve_run

    experiment_id = tracking.connect(open_workspace(home), tracking_uri, experiment)
    base_id = resolve_run(baseline, experiment_id)
    cand_id = resolve_run(candidate, experiment_id) if candidate else latest_run(experiment_id, other_than=base_id)
    report = gate(load_run(base_id), load_run(cand_id), metric, margin, alpha)
    gate_run = log_gate(report, experiment_id, baseline)
    verdict = "pass" if report.passed else "fail"
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "verdict": verdict,
                    "baseline_run": base_id,
                    "candidate_run": cand_id,
                    "gate_run": gate_run,
                    "checks": records(report.frame()),
                },
                indent=2,
            )
        )
    else:
        typer.echo(
            f"gate {verdict}: candidate {cand_id[:8]} against {baseline} ({base_id[:8]}), one-sided {1 - alpha:.0%} bounds\n"
            + report.frame().round(4).to_string(index=False)
            + f"\n(logged to MLflow run {gate_run})"
        )
    raise typer.Exit(0 if report.passed else 1)


@commands.command("diff")
def diff_(
    run_a: str = typer.Argument(..., help="RUN_ID or name of the first run."),
    run_b: str = typer.Argument(..., help="RUN_ID or name of the second."),
    as_json: bool = typer.Option(False, "--json", help="Print the changed questions as JSON."),
    home: Optional[Path] = HomeOpt,
    tracking_uri: Optional[str] = TrackingOpt,
    experiment: str = ExperimentOpt,
) -> None:
    """The questions whose hits or answers changed between two evaluation runs, with their scores."""
    from workbench.lab import tracking
    from workbench.lab.paired import load_run, resolve_run
    from workbench.lab.rundiff import as_table, changed

    experiment_id = tracking.connect(open_workspace(home), tracking_uri, experiment)
    a, b = (load_run(resolve_run(ref, experiment_id)) for ref in (run_a, run_b))
    changes = changed(a, b)
    # Questions and answers are input: escaped, so none can rewrite the terminal (JSON: all of it ASCII)
    typer.echo(json.dumps(changes, indent=2) if as_json else printable(as_table(changes, a, b), keep=MULTILINE))


@commands.command()
def promote(
    run_ref: str = typer.Argument(..., metavar="RUN_ID", help="The evaluation run to promote (its id, or the start of it)."),
    name: str = typer.Option("production", help="Name that export takes (--promoted NAME)."),
    home: Optional[Path] = HomeOpt,
    tracking_uri: Optional[str] = TrackingOpt,
    experiment: str = ExperimentOpt,
) -> None:
    """Mark a run's configuration as the chosen one, by name."""
    from workbench.lab import tracking
    from workbench.lab.paired import resolve_run

    experiment_id = tracking.connect(open_workspace(home), tracking_uri, experiment)
    run_id = resolve_run(run_ref, experiment_id)
    tracking.promote(run_id, name, experiment_id)
    typer.echo(f"run {run_id} promoted as {name!r}")


@commands.command()
def ui(home: Optional[Path] = HomeOpt, port: int = typer.Option(5000, help="Port on 127.0.0.1.")) -> None:
    """Start the MLflow UI on the local store, on 127.0.0.1."""
    import subprocess

    from workbench.lab import tracking

    ws = open_workspace(home)
    tracking.connect(ws)
    typer.echo(f"MLflow UI: http://127.0.0.1:{port}  (store {tracking.tracking_uri(ws)}; Ctrl-C stops it)")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mlflow",
            "ui",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            tracking.tracking_uri(ws),
        ],
        check=False,
    )
