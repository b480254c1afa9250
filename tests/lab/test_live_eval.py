"""`workbench eval --backends aws`: an exported run's config against the deployed index (the Pinecone test double,
loaded as `pinecone-load` loads it) and DynamoDB state (moto server), compared with the run per metric and question."""

import json
import uuid

import mlflow
import pytest
from conftest import make_table
from pinecone_double import PineconeDouble
from typer.testing import CliRunner

from workbench.cli import app
from workbench.config import AgentConfig
from workbench.deploy.pinecone_loader import load_into_pinecone
from workbench.errors import LiveEvalError
from workbench.indexes.chroma import ChromaIndex
from workbench.indexes.pinecone import connect
from workbench.lab import tracking
from workbench.lab.evalsets import DatasetSpec
from workbench.lab.evaluate import evaluate
from workbench.lab.live import evaluate_live
from workbench.workspace import Workspace

QUALITY = ("ndcg_at_10", "recall_at_k", "mrr_at_k", "hit_rate_at_k", "rouge_score", "decline_rate")


@pytest.fixture
def deployed(aws, tmp_path, squad_subset, monkeypatch):
    """An evaluated, exported run; its index in the Pinecone double; a live state table; the Lambda's variables set."""
    ws = Workspace(tmp_path / "ws")
    cfg = AgentConfig(name="deployed", embedder={"kind": "hashing"}, retrieval={"top_k": 3})
    dataset = DatasetSpec(corpus=squad_subset, limit=8)
    tracking.connect(ws)
    result = evaluate(cfg, dataset, ws, progress=False)
    run_id = tracking.log_evaluation(result, result.evalset.name, result.evalset.content_hash)
    double = PineconeDouble(cfg.embedder.dimension)
    load_into_pinecone(ChromaIndex(result.index_path, cfg.index), cfg, connect(double.host, "pc-test-key"), progress=False)
    state = make_table(f"state-{uuid.uuid4().hex[:8]}", "pk", "expires_at")
    for name, value in {"PINECONE_HOST": double.host, "PINECONE_API_KEY": "pc-test-key", "STATE_TABLE": state.name}.items():
        monkeypatch.setenv(name, value)
    yield ws, dataset, run_id, double, state, result
    double.close()


def test_the_deployed_stack_matches_its_run_and_drift_is_shown_per_question(deployed) -> None:
    ws, dataset, run_id, double, state, result = deployed
    report = evaluate_live(run_id, dataset, ws, progress=False)
    assert report["questions"] == report["same_retrieved"] == report["same_answer"] == 8
    assert report["differing_questions"] == []
    assert all(report["metrics"][m]["delta"] == 0 for m in QUALITY)
    assert "ann_recall_at_k" in report["not_measured_live"]  # a deployed index has no exact search to compare with
    assert state.scan()["Items"] == []  # the evaluation's conversations were removed from the live table
    assert double.requests.count("/query") >= 8  # every question went to the deployed index

    # The deployed index drifts: the top document of the first question is gone from it.
    first = result.table.iloc[0]
    gone = [cid for cid in double.namespaces["acme"] if cid.startswith(first["retrieved"][0] + "#")]
    for cid in gone:
        del double.namespaces["acme"][cid]
    drifted = evaluate_live(run_id, dataset, ws, progress=False)
    [changed, *_] = drifted["differing_questions"]
    assert (changed["case_id"], changed["question"]) == (first["case_id"], first["question"])
    assert changed["retrieved"]["exported"] == list(first["retrieved"])
    assert first["retrieved"][0] not in changed["retrieved"]["live"]
    assert drifted["metrics"]["ndcg_at_10"]["delta"] < 0 and drifted["same_retrieved"] < 8
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "live")}
    assert len(artifacts) == 2  # one report folder per check, on the exported run
    stored = json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/{drifted['report_artifact']}"))
    assert stored["differing_questions"] == drifted["differing_questions"]


def test_the_cli_prints_the_report_as_json_and_refuses_a_mismatch(deployed, squad_subset) -> None:
    ws, dataset, run_id, double, state, result = deployed
    tracking.promote(run_id, "production", tracking.connect(ws))
    runner = CliRunner()
    base = ["eval", "--backends", "aws", "--corpus", str(squad_subset), "--home", str(ws.root)]
    done = runner.invoke(app, [*base, "--limit", "8", "--promoted", "production"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["same_retrieved"] == 8

    other = runner.invoke(app, [*base, "--limit", "5", "--run", run_id])  # another eval set than the run's
    assert isinstance(other.exception, LiveEvalError) and "is not run" in str(other.exception)
    for flags in (["--limit", "8"], ["--run", run_id, "--promoted", "production"], ["--run", run_id, "--config", "x.yaml"]):
        assert "give --run RUN_ID or --promoted NAME" in str(runner.invoke(app, [*base, *flags]).exception)
    assert "--backends is local or aws" in str(runner.invoke(app, [*base[:2], "gcp", *base[3:]]).exception)


def test_missing_or_wrong_deployment_settings_are_named(deployed, monkeypatch) -> None:
    ws, dataset, run_id, *_ = deployed
    monkeypatch.setenv("STATE_TABLE", "no-such-table")
    with pytest.raises(LiveEvalError, match="live state table 'no-such-table'"):
        evaluate_live(run_id, dataset, ws, progress=False)
    monkeypatch.delenv("PINECONE_HOST")
    with pytest.raises(LiveEvalError, match="PINECONE_HOST"):
        evaluate_live(run_id, dataset, ws, progress=False)
