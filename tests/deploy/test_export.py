"""Export: refusals that leave nothing behind, and the bundle's handler replaying an evaluation exactly.

The handler runs in a subprocess whose import path holds only the bundle and the installed libraries,
so it is the bundle's own copy of the workbench that answers, against a moto server (DynamoDB, Secrets
Manager) and the Pinecone test double on loopback.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml
from bundle_driver import aws_tables, results_and_outbox, run_handler, xray_daemon
from conftest import event
from pinecone_double import PineconeDouble

from workbench.config import AgentConfig
from workbench.deploy.bundle import export_bundle
from workbench.deploy.pinecone_loader import load_into_pinecone
from workbench.errors import ExportError
from workbench.indexes.pinecone import connect
from workbench.ingest.chunking import doc_id_of

pytestmark = pytest.mark.xdist_group("bundle")  # the session's exported bundles are built once, on one worker


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"embedder": {"kind": "hashing"}}, "hashing embedder is for tests only"),
        ({"index": {"distance": "l2"}}, "evaluate with cosine or ip"),
        (
            {"retrieval": {"top_k": 100, "chunking": {"size": 3000}}},
            r"can reach [\d,]+ bytes, over DynamoDB's 409,600-byte item.*top_k \(100\).*chunking.size \(3000\).*history_turns \(5\)",
        ),
    ],
)
def test_configs_the_cloud_cannot_serve_are_refused(tmp_path, overrides, message) -> None:
    with pytest.raises(ExportError, match=message):
        export_bundle(AgentConfig(**overrides), tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_force_replaces_a_bundle_or_an_empty_folder_never_other_files(tmp_path) -> None:
    """`--force` deleted whatever `--out` named, before checking anything: `export -o . --force` in a project
    erased it; a file as `--out` failed only after the whole export, with a misleading error."""
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "notes.txt").write_text("keep me")
    (tmp_path / "file").write_text("keep me too")
    for out in (tmp_path / "project", tmp_path / "file"):
        with pytest.raises(ExportError, match=f"{out} is not a bundle.*choose another --out"):
            export_bundle(AgentConfig(), out, force=True)
    assert (tmp_path / "project" / "notes.txt").read_text() == "keep me" and (tmp_path / "file").read_text() == "keep me too"


def test_cli_refuses_a_missing_run_and_writes_nothing(tmp_path) -> None:
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "ws")}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "export", "--run", "0123456789abcdef", "--out", str(tmp_path / "b")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 2 and "run 0123456789abcdef" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "b").exists()
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "export", "--out", str(tmp_path / "b")], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 2 and "choose exactly one of" in proc.stderr


def test_bundle_contents_and_self_checks(exported) -> None:
    result, run_id, report = exported
    out = report.out
    meta = json.loads((out / "config.json").read_text())
    assert meta["config_id"] == result.config.config_id and meta["mlflow_run_id"] == run_id
    assert AgentConfig.from_dict(meta["config"]).config_id == meta["config_id"]
    assert report.checks["cfn_lint"] == "passed" and report.checks["onnx_max_abs_diff"] < 1e-5
    assert report.checks["runtime_import_ms"] > 0 and "container image" in report.checks["package"]
    template = yaml.safe_load((out / "template.yaml").read_text())
    queue = template["Resources"]["EventsQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * result.config.deploy.timeout_s
    function = template["Resources"]["AgentFunction"]["Properties"]
    mapping = template["Resources"]["QueueMapping"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and mapping["FunctionName"] == {"Ref": "AgentFunction"}
    assert mapping["BatchSize"] == result.config.deploy.sqs_batch_size and "Events" not in function
    assert (
        function["Tracing"] == "Active" and function["ReservedConcurrentExecutions"] == result.config.deploy.reserved_concurrency
    )
    resources = template["Resources"]
    alarms = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == {"ErrorRateAlarm", "LatencyTailAlarm", "DeadLetterAlarm", "OldestMessageAlarm"}
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())
    assert alarms["ErrorRateAlarm"]["Threshold"] == 1 and alarms["LatencyTailAlarm"]["Threshold"] == 2
    assert resources["AgentFunctionLogGroup"]["Properties"]["RetentionInDays"] > 0
    statements = [st for p in function["Policies"] for st in p["Statement"]]
    assert statements and all(st["Resource"] != "*" for st in statements)  # every grant names its table or secret
    dlq = {"Fn::GetAtt": ["EventsDLQ", "Arn"]}  # bad input goes there at once, and nowhere else
    assert [st["Action"] for st in statements if "sqs:SendMessage" in st["Action"]] == [["sqs:SendMessage"]]
    assert any(st["Resource"] == dlq for st in statements if st["Action"] == ["sqs:SendMessage"])
    assert function["Environment"]["Variables"]["DEAD_LETTER_QUEUE_URL"] == {"Ref": "EventsDLQ"}
    assert not (out / "build.sh").exists() and "needs Docker" in (out / "README.md").read_text()
    requirements = (out / "requirements.txt").read_text()
    assert "aws-lambda-powertools==" in requirements and "torch" not in requirements and "chromadb" not in requirements
    locked = [line for line in (out / "requirements.lock").read_text().splitlines() if not line.startswith("#")]
    assert all("==" in line and " --hash=sha256:" in line for line in locked)  # every package pinned and hashed
    names = {line.split("==")[0] for line in locked}
    assert {"onnxruntime", "tokenizers", "aws-lambda-powertools", "numpy", "pydantic-core"} <= names  # transitive ones too
    assert not names & {"huggingface-hub", "botocore", "boto3", "torch", "pinecone"}  # never imported, or in the runtime
    dockerfile = (out / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile and "requirements.lock" in dockerfile and "compileall" in dockerfile
    weights = out / "model" / "model.onnx.data"  # mapped at load; readable by the Lambda's user, who is not its owner
    assert weights.stat().st_size > 80e6 > (out / "model" / "model.onnx").stat().st_size and weights.stat().st_mode & 0o004
    assert "gc.freeze()" in (out / "handler.py").read_text()
    assert "MB of packages (pip install --target of requirements.lock, measured)" in report.checks["image_mb"]
    assert not (out / "workbench" / "indexes" / "chroma.py").exists()
    assert json.loads((out / "pinecone_index.json").read_text())["dimension"] == 384
    assert "sam build && sam deploy --guided" in (out / "README.md").read_text()


def test_handler_replays_the_evaluation_and_handles_bad_batches(exported, aws, tmp_path) -> None:
    result, run_id, report = exported
    cfg = result.config
    tables = aws_tables()
    state, idem, decisions = tables["state"], tables["idem"], tables["decisions"]
    double = PineconeDouble(cfg.embedder.dimension)
    try:
        from workbench.indexes.chroma import ChromaIndex

        loaded = load_into_pinecone(
            ChromaIndex(result.index_path, cfg.index), cfg, connect(double.host, "pc-test-key"), progress=False
        )
        assert loaded.namespaces == {"acme": loaded.vectors}
        again = load_into_pinecone(
            ChromaIndex(result.index_path, cfg.index), cfg, connect(double.host, "pc-test-key"), progress=False
        )
        assert again.vectors == loaded.vectors and len(double.namespaces["acme"]) == loaded.vectors  # idempotent

        questions = [(f"parity-{i}", q) for i, q in enumerate(result.table["question"])]
        replay = {"Records": [{"messageId": mid, "body": json.dumps(event(q, user=mid, event_id=mid))} for mid, q in questions]}
        poison = {
            "Records": [
                {
                    "messageId": "ok-1",
                    "body": json.dumps(
                        {"Type": "Notification", "Message": json.dumps(event("Who was the MVP?", user="dup", event_id="dup-1"))}
                    ),
                },
                {"messageId": "poison", "body": "{not json"},
                {"messageId": "ok-2", "body": json.dumps(event("Who founded it?", user="other", event_id="ok-2"))},
            ]
        }
        duplicate = {
            "Records": [{"messageId": "redelivered", "body": json.dumps(event("Who was the MVP?", user="dup", event_id="dup-1"))}]
        }
        with xray_daemon() as (address, segments):  # LAMBDA_TASK_ROOT: Powertools' Tracer is on, as in Lambda
            proc = run_handler(
                report.out,
                [replay, poison, duplicate],
                aws,
                tables,
                double.host,
                tmp_path,
                LAMBDA_TASK_ROOT=str(report.out),
                AWS_XRAY_DAEMON_ADDRESS=address,
                AWS_LAMBDA_FUNCTION_NAME="f",
            )
    finally:
        double.close()

    lines = proc.stdout.splitlines()
    results, outbox = results_and_outbox(proc)
    assert results[0] == {"batchItemFailures": []}
    assert results[1] == {"batchItemFailures": [{"itemIdentifier": "poison"}]}  # exactly the poison message
    assert results[2] == {"batchItemFailures": []}

    # Parity: same retrieved documents in the same order, same answers, as the evaluated run.
    by_id = {o["event_id"]: o for o in outbox}
    for (mid, _), row in zip(questions, result.table.itertuples()):
        got = by_id[mid]
        assert list(dict.fromkeys(doc_id_of(h) for h in got["hits"])) == list(row.retrieved)
        assert got["answer"] == row.answer and got["config_id"] == cfg.config_id
    # EMF metrics: a count per record outcome, under the dimension the dashboard reads.
    emf = [json.loads(line) for line in lines if line.startswith('{"_aws"')]
    assert all(
        m["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]] and m["service"] == "agent-workbench" for m in emf
    )
    counts = {k: sum(len(m.get(k, [])) for m in emf) for k in ("records_handled", "records_rejected", "records_duplicate")}
    assert counts == {"records_handled": len(questions) + 2, "records_rejected": 1, "records_duplicate": 1}

    # Logs: the Lambda context on every line; a failed record logged under its own id, not the record before it.
    logs = [json.loads(line) for line in lines if line.startswith('{"level"')]
    assert logs and all(entry["function_request_id"] == "r" and entry["config_id"] == cfg.config_id for entry in logs)
    assert [(e["correlation_id"], e["status"]) for e in logs if e["message"] == "record failed"] == [("poison", "rejected")]
    assert [e["correlation_id"] for e in logs if e["message"].startswith("duplicate delivery")] == ["dup-1"]

    # X-Ray: a subsegment per backend call (DynamoDB also as botocore sees it; Pinecone as the batch's concurrent
    # queries). The Pinecone key was read at init, which
    # no invocation's trace holds (Lambda's own Initialization segment times it).
    names = {s["name"] for s in segments}
    assert {
        "## handler",
        "onnx.embed",
        "pinecone.query_many",
        "dynamodb.state.load",
        "dynamodb.state.save",
        "dynamodb.ledger.get",
        "dynamodb.ledger.claim",
        "dynamodb.ledger.mark_acted",
        "dynamodb",
    } <= names
    assert "secretsmanager" not in names
    assert {s["trace_id"] for s in segments} == {f"1-5759e988-{i:024x}" for i in range(3)}  # each invocation its own trace

    # Every decision is in the decision table (the delivery core's ledger), once, keyed by tenant and event, acted.
    from workbench.serve.ledger import decision_of

    logged = {i["pk"]: decision_of(i) for i in decisions.scan()["Items"]}
    assert set(logged) == {f"acme#{mid}" for mid, _ in questions} | {"acme#dup-1", "acme#ok-2"}
    assert logged["acme#parity-0"]["answer"] == by_id["parity-0"]["answer"]
    assert all(i["acted"] for i in decisions.scan()["Items"])

    # Idempotency records carry the local worker's keys (workbench.serve.idempotency), so both sides agree on an event.
    from workbench.serve.idempotency import idempotency_key

    assert idempotency_key("acme", "dup-1") in {i["id"] for i in idem.scan()["Items"]}

    # The duplicate delivery neither acted again nor appended to history.
    assert sum(1 for o in outbox if o["event_id"] == "dup-1") == 1
    item = state.get_item(Key={"pk": "acme#user#dup"})["Item"]
    assert len(item["history"]) == 2 and int(item["version"]) == 1


def test_the_largest_exportable_top_k_with_the_defaults_is_the_one_the_readme_gives() -> None:
    from workbench.deploy.limits import check_decision_fits

    check_decision_fits(AgentConfig(retrieval={"top_k": 15}))
    with pytest.raises(ValueError, match=r"top_k \(16\)"):
        check_decision_fits(AgentConfig(retrieval={"top_k": 16}))
