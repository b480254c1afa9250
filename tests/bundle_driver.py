"""Runs an exported bundle's handler on SQS batches in a subprocess whose import path holds only the bundle and the
installed libraries, so the bundle's own copy of the workbench answers (against moto and the Pinecone double)."""

import json
import site
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
from conftest import AWS_ENV, make_table

DRIVER = """
import json, sys
from types import SimpleNamespace
import handler
batches = json.load(open(sys.argv[1]))
ctx = SimpleNamespace(function_name="f", memory_limit_in_mb=1024, invoked_function_arn="arn:aws:lambda:us-east-1:1:function:f",
                      aws_request_id="r", get_remaining_time_in_millis=lambda: 30000)
results = [handler.handler(batch, ctx) for batch in batches]
print("RESULTS " + json.dumps(results))
"""


def aws_tables() -> dict:
    """Fresh state, idempotency and decision tables, and the Pinecone key in Secrets Manager (on moto)."""
    suffix = uuid.uuid4().hex[:8]
    tables = {"state": make_table(f"state-{suffix}", "pk", "expires_at"), "idem": make_table(f"idem-{suffix}", "id", "expiration"),
              "decisions": make_table(f"decisions-{suffix}", "pk", "unused"), "secret": f"pc-{suffix}"}
    boto3.client("secretsmanager").create_secret(Name=tables["secret"], SecretString="pc-test-key")
    return tables


def run_handler(bundle: Path, batches: list, aws: str, tables: dict, pinecone_host: str, tmp: Path) -> subprocess.CompletedProcess:
    path = tmp / f"batches-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(batches))
    env = {**AWS_ENV, "AWS_ENDPOINT_URL": aws, "PATH": "/usr/bin:/bin", "STATE_TABLE": tables["state"].name,
           "IDEMPOTENCY_TABLE": tables["idem"].name, "DECISION_TABLE": tables["decisions"].name, "PINECONE_HOST": pinecone_host,
           "PINECONE_SECRET_NAME": tables["secret"], "WORKBENCH_MODEL_DIR": str(bundle / "model"),
           "POWERTOOLS_METRICS_NAMESPACE": "AgentWorkbenchTest"}
    paths = [str(bundle), *site.getsitepackages()]
    proc = subprocess.run([sys.executable, "-S", "-B", "-c", f"import sys; sys.path[:0] = {paths!r}\n{DRIVER}", str(path)],
                          capture_output=True, text=True, env=env, cwd=bundle, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def results_and_outbox(proc: subprocess.CompletedProcess) -> tuple[list, list]:
    lines = proc.stdout.splitlines()
    results = json.loads(next(line for line in lines if line.startswith("RESULTS "))[8:])
    return results, [json.loads(line)["outbox"] for line in lines if line.startswith('{"outbox"')]
