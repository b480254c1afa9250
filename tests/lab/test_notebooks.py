"""Every notebook runs under papermill on small data, and what it produces is checked (hashing embedder: fast)."""

import json
from pathlib import Path

import mlflow
import nbformat
import papermill
import pytest

from workbench.lab import tracking
from workbench.lab.schedule import run_notebook
from workbench.state.sqlite import SQLiteStateStore
from workbench.workspace import Workspace

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_are_stored_without_outputs(path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code), (
        f"run `jupyter nbconvert --clear-output {path}`"
    )
    assert any("parameters" in c.metadata.get("tags", []) for c in code)


def test_prototype_notebook(tmp_path) -> None:
    ws = Workspace(tmp_path / "ws")
    papermill.execute_notebook(
        str(NOTEBOOKS / "01_prototype.ipynb"),
        str(tmp_path / "out.ipynb"),
        cwd=str(NOTEBOOKS),
        parameters={"home": str(ws.root), "embedder": "hashing"},
        kernel_name="python3",
        progress_bar=False,
    )
    assert SQLiteStateStore(ws.state_db, 30).load("acme", "user#alice").version == 3
    decisions = [json.loads(line) for line in ws.outbox.read_text().splitlines()]
    assert len(decisions) == 6 and {d["user_id"] for d in decisions} == {"alice", "bob"}
    last = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[-1].outputs[0]["data"]["text/plain"]
    assert "filter article=Oxygen" in last and "Oxygen#" in last


def test_scheduled_evaluation_then_comparison(tmp_path) -> None:
    ws = Workspace(tmp_path / "ws")
    executed, run_ids = run_notebook(
        NOTEBOOKS / "02_evaluate.ipynb",
        {"overrides": {"embedder.kind": "hashing"}, "limit": 6},
        ws,
        out_dir=tmp_path / "runs",
        progress=False,
    )
    assert executed.parent == tmp_path / "runs" and executed.name.startswith("02_evaluate-")
    experiment_id = tracking.connect(ws)
    [run_id] = run_ids
    run = mlflow.get_run(run_id)
    assert run.data.metrics["questions"] == 6 and "ndcg_at_10" in run.data.metrics
    assert [a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "notebooks")] == [f"notebooks/{executed.name}"]

    papermill.execute_notebook(
        str(NOTEBOOKS / "03_compare.ipynb"),
        str(tmp_path / "compare.ipynb"),
        cwd=str(NOTEBOOKS),
        parameters={"home": str(ws.root), "promote_as": "nightly"},
        kernel_name="python3",
        progress_bar=False,
    )
    assert tracking.promoted_run("nightly", experiment_id) == run_id
    assert (ws.root / "compare.png").stat().st_size > 0
