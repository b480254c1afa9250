"""Shipping: `export` a bundle, `pinecone-load` the evaluated index into Pinecone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from workbench.cli.options import ExperimentOpt, HomeOpt, TrackingOpt, open_workspace
from workbench.config import AgentConfig
from workbench.errors import UsageError

commands = typer.Typer()


@commands.command()
def export(
    out: Path = typer.Option(..., "--out", "-o", help="Bundle folder to write, e.g. export/prod."),
    run: Optional[str] = typer.Option(None, "--run", help="Export the config of this MLflow run."),
    promoted: Optional[str] = typer.Option(None, "--promoted", help="Export the run promoted under this name."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Export this config file (no evaluation attached)."),
    force: bool = typer.Option(False, help="Replace an existing bundle."),
    home: Optional[Path] = HomeOpt,
    tracking_uri: Optional[str] = TrackingOpt,
    experiment: str = ExperimentOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the bundle's folder, config_id and checks as JSON."),
) -> None:
    """Write a Lambda + DynamoDB + Pinecone bundle (SAM) for a chosen configuration, and self-check it."""
    import mlflow

    from workbench.deploy.bundle import export_bundle
    from workbench.lab import tracking

    if sum(x is not None for x in (run, promoted, config)) != 1:
        raise UsageError("choose exactly one of --run RUN_ID, --promoted NAME or --config FILE")
    metrics: dict[str, float] = {}
    index_path = None
    if config:
        cfg = AgentConfig.from_yaml(config)
    else:
        experiment_id = tracking.connect(open_workspace(home), tracking_uri, experiment)
        run = run or tracking.promoted_run(promoted, experiment_id)
        cfg = tracking.config_of_run(run)
        data = mlflow.get_run(run).data
        metrics = data.metrics
        index_path = Path(data.tags["index_path"]) if "index_path" in data.tags else None
    report = export_bundle(cfg, out, run_id=run, metrics=metrics, force=force, index_path=index_path)
    if as_json:
        typer.echo(json.dumps({"out": str(report.out), "name": cfg.name, "config_id": cfg.config_id, "checks": report.checks}))
        return
    typer.echo(f"bundle for {cfg.name} ({cfg.config_id}) written to {report.out}")
    for key, value in report.checks.items():
        typer.echo(f"  {key}: {value}")


@commands.command("pinecone-load")
def pineconeload_config(
    run: str = typer.Option(..., "--run", help="MLflow run whose evaluated index to copy."),
    host: str = typer.Option(..., "--host", help="Pinecone index data-plane URL."),
    home: Optional[Path] = HomeOpt,
    tracking_uri: Optional[str] = TrackingOpt,
    experiment: str = ExperimentOpt,
) -> None:
    """Copy the evaluated Chroma collection of a run into Pinecone (PINECONE_API_KEY from the environment)."""
    import mlflow

    from workbench.deploy.pinecone_loader import load_into_pinecone
    from workbench.indexes.chroma import ChromaIndex
    from workbench.indexes.pinecone import api_key, connect
    from workbench.lab import tracking

    tracking.connect(open_workspace(home), tracking_uri, experiment)
    cfg = tracking.config_of_run(run)
    index_path = Path(mlflow.get_run(run).data.tags["index_path"])
    if not index_path.exists():
        raise UsageError(f"the evaluated index {index_path} is gone; re-run the evaluation to rebuild it")
    report = load_into_pinecone(ChromaIndex(index_path, cfg.index, cfg.retrieval.tenant_field), cfg, connect(host, api_key()))
    typer.echo(f"copied {report.vectors} vectors into namespaces {report.namespaces}")
