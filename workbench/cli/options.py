"""What every command group shares: the common options, and how they become a config and a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from workbench.config import AgentConfig
from workbench.workspace import Workspace

DEMO_CORPUS = Path("datasets/squad-v1.1-dev-24/dev-v1.1-first24.json")
DEMO_EVENTS = Path("datasets/demo/events.jsonl")

ConfigOpt = typer.Option(None, "--config", "-c", help="Pipeline config YAML (default: the embedded default).")
HomeOpt = typer.Option(None, "--home", help="Workspace folder for indexes, state and caches (default: $WORKBENCH_HOME or .workbench).")
TrackingOpt = typer.Option(None, "--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or the local store in the workspace).")
ExperimentOpt = typer.Option("agent-workbench", "--experiment", help="MLflow experiment name.")


def load_config(config: Optional[Path]) -> AgentConfig:
    return AgentConfig.from_yaml(config) if config else AgentConfig()


def open_workspace(home: Optional[Path]) -> Workspace:
    return Workspace(home) if home else Workspace.default()
