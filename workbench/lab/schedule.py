"""Scheduled evaluation runs: execute a notebook with papermill, keep it timestamped, attach it to its MLflow runs."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workbench.errors import UsageError
from workbench.workspace import Workspace

DEFAULT_NOTEBOOK = Path("notebooks/02_evaluate.ipynb")
RUNS_DIR = Path("experiments/runs")


def run_notebook(
    notebook: Path,
    parameters: dict[str, Any],
    workspace: Workspace,
    out_dir: Path = RUNS_DIR,
    tracking_uri: str | None = None,
    progress: bool = True,
) -> tuple[Path, list[str]]:
    """Execute `notebook` (cwd: its folder) and return the executed copy and the MLflow runs it logged."""
    import mlflow
    import papermill

    from workbench.lab import tracking

    if not notebook.is_file():
        raise UsageError(f"{notebook}: no such notebook (the evaluation notebook is {DEFAULT_NOTEBOOK})")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = (out_dir / f"{notebook.stem}-{stamp}.ipynb").resolve()
    result_file = executed.with_suffix(".json")
    params = {**parameters, "home": str(workspace.root.resolve()), "result_file": str(result_file)}
    if tracking_uri:
        params["tracking_uri"] = tracking_uri
    papermill.execute_notebook(
        str(notebook), str(executed), parameters=params, cwd=str(notebook.parent), kernel_name="python3", progress_bar=progress
    )
    result = json.loads(result_file.read_text()) if result_file.exists() else {"run_ids": []}
    tracking.connect(workspace, tracking_uri)
    run_ids = [
        *result["run_ids"],
        *([result["summary"]["parent_run_id"]] if "parent_run_id" in result.get("summary", {}) else []),
    ]
    for run_id in run_ids:
        mlflow.MlflowClient().log_artifact(run_id, str(executed), "notebooks")
    return executed, run_ids
