"""MLflow as a server: a real `mlflow server` (SQLite backend store, artifacts folder) on loopback takes eval, sweep,
compare, promote and export --promoted, as a team's shared tracking server would; nothing lands in the workspace."""

import json
import sqlite3
import sys

import pytest
from conftest import _free_port, serving, sweep_spec
from typer.testing import CliRunner

from workbench.cli import app

pytestmark = pytest.mark.model  # export converts the real MiniLM to ONNX


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """The URI of a real MLflow tracking server with proxied artifacts, and its store and artifacts folders."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    args = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    # The job runner (a pool of consumers for GenAI jobs) is not used here and would crowd two cores.
    with serving("mlflow server", args, port, log=folder / "server.log", env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}):
        yield f"http://127.0.0.1:{port}", folder


def test_eval_sweep_compare_promote_export_against_a_tracking_server(mlflow_server, squad_subset, tmp_path) -> None:
    uri, folder = mlflow_server
    home = tmp_path / "ws"
    runner = CliRunner()

    def cli(*args):
        result = runner.invoke(app, [*args, "--home", str(home), "--tracking-uri", uri])
        assert result.exit_code == 0, (result.output, result.exception)
        return result.stdout

    data = ["--corpus", str(squad_subset), "--article", "Super_Bowl_50", "--limit", "4"]
    evaluated = json.loads(cli("eval", "--json", *data))  # stdout is the JSON alone: no MLflow run links, notes on stderr
    run_id = evaluated["run_id"]

    spec = sweep_spec(tmp_path, squad_subset, name="shared", limit=4, grid={"retrieval.top_k": [3, 5]})
    assert "ran 2, skipped 0" in cli("sweep", str(spec), "-j", "2")  # two worker processes, each logging to the server
    assert "ran 0, skipped 2" in cli("sweep", str(spec))  # resume reads the server's runs
    table = cli("compare", "--sweep", "shared", "--out", str(tmp_path / "compare.png"))
    assert table.count("shared[top_k=") == 2 and "pareto" in table

    assert f"run {run_id} promoted as 'production'" in cli("promote", run_id)
    cli("export", "--promoted", "production", "--out", str(tmp_path / "bundle"))
    shipped = json.loads((tmp_path / "bundle" / "config.json").read_text())
    assert shipped["mlflow_run_id"] == run_id and shipped["config_id"] == evaluated["config_id"]

    with sqlite3.connect(folder / "mlflow.db") as db:  # the server's own store holds every run and tag
        kinds = dict(db.execute("SELECT value, COUNT(*) FROM tags WHERE key = 'workbench.kind' GROUP BY value").fetchall())
        promoted = db.execute("SELECT run_uuid FROM tags WHERE key = 'workbench.promoted'").fetchall()
        traced = db.execute("SELECT COUNT(*), COUNT(DISTINCT trace_id) FROM spans").fetchone()
        questions = db.execute("SELECT COUNT(*) FROM trace_info").fetchone()[0]
    assert kinds == {"evaluation": 3, "sweep": 1} and promoted == [(run_id,)]
    assert questions == 12 and traced == (12 * 8, 12)  # through the server's API: a trace per question, 8 spans each
    logged = {p.relative_to(folder / "artifacts").parts[-1] for p in (folder / "artifacts").rglob("*") if p.is_file()}
    assert {"config.yaml", "per_question.json", "sweep_spec.json", "runs.json", "compare.png"} <= logged
    assert not (home / "mlflow.db").exists() and not (home / "mlartifacts").exists()
