"""Runs an exported bundle's handler on SQS batches in a subprocess whose import path holds only the bundle and the
installed libraries, so the bundle's own copy of the workbench answers (against moto and the Pinecone double)."""

import json
import site
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import boto3
from conftest import AWS_ENV, make_table

DRIVER = """
import json, os, sys
from types import SimpleNamespace
import handler
batches = json.load(open(sys.argv[1]))
ctx = SimpleNamespace(function_name="f", memory_limit_in_mb=1024, invoked_function_arn="arn:aws:lambda:us-east-1:1:function:f",
                      aws_request_id="r", get_remaining_time_in_millis=lambda: 30000)

def invoke(i, batch):
    if "LAMBDA_TASK_ROOT" in os.environ:  # as the Lambda runtime does: each invocation's own trace header, none at init
        os.environ["_X_AMZN_TRACE_ID"] = f"Root=1-5759e988-{i:024x};Parent=53995c3f42cd8ad8;Sampled=1"
    return handler.handler(batch, ctx)

results = [invoke(i, batch) for i, batch in enumerate(batches)]
print("RESULTS " + json.dumps(results))
"""


@contextmanager
def xray_daemon():
    """A UDP socket on loopback standing in for the X-Ray daemon: (its address, the segment documents received)."""
    received: list[dict] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def collect() -> None:
        while not stop.is_set():
            try:
                packet = sock.recv(65536).decode()
            except socket.timeout:
                continue
            received.append(json.loads(packet.split("\n", 1)[1]))  # a header line, then the document

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}", received
    finally:
        time.sleep(0.5)  # the last datagrams
        stop.set()
        thread.join()
        sock.close()


def aws_tables() -> dict:
    """Fresh state, idempotency and decision tables, and the Pinecone key in Secrets Manager (on moto)."""
    suffix = uuid.uuid4().hex[:8]
    tables = {
        "state": make_table(f"state-{suffix}", "pk", "expires_at"),
        "idem": make_table(f"idem-{suffix}", "id", "expiration"),
        "decisions": make_table(f"decisions-{suffix}", "pk", "unused"),
        "secret": f"pc-{suffix}",
    }
    boto3.client("secretsmanager").create_secret(Name=tables["secret"], SecretString="pc-test-key")
    return tables


def bundle_env(bundle: Path, aws: str, tables: dict, pinecone_host: str, **extra: str) -> dict:
    return {
        **AWS_ENV,
        "AWS_ENDPOINT_URL": aws,
        "PATH": "/usr/bin:/bin",
        "STATE_TABLE": tables["state"].name,
        "IDEMPOTENCY_TABLE": tables["idem"].name,
        "DECISION_TABLE": tables["decisions"].name,
        "PINECONE_HOST": pinecone_host,
        "PINECONE_SECRET_NAME": tables["secret"],
        "WORKBENCH_MODEL_DIR": str(bundle / "model"),
        "POWERTOOLS_METRICS_NAMESPACE": "AgentWorkbenchTest",
        **extra,
    }


def run_in_bundle(bundle: Path, code: str, args: list[str], env: dict) -> subprocess.CompletedProcess:
    paths = [str(bundle), *site.getsitepackages()]
    proc = subprocess.run(
        [sys.executable, "-S", "-B", "-c", f"import sys; sys.path[:0] = {paths!r}\n{code}", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=bundle,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def run_handler(
    bundle: Path, batches: list, aws: str, tables: dict, pinecone_host: str, tmp: Path, **env: str
) -> subprocess.CompletedProcess:
    path = tmp / f"batches-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(batches))
    return run_in_bundle(bundle, DRIVER, [str(path)], bundle_env(bundle, aws, tables, pinecone_host, **env))


def results_and_outbox(proc: subprocess.CompletedProcess) -> tuple[list, list]:
    lines = proc.stdout.splitlines()
    results = json.loads(next(line for line in lines if line.startswith("RESULTS "))[8:])
    return results, [json.loads(line)["outbox"] for line in lines if line.startswith('{"outbox"')]


# The SQS event source, played by the driver: receive a batch, invoke the handler, delete what succeeded. Every AWS
# call of the process is counted, and every DynamoDB read or write is sized from the item as stored before and after it.
METERED = """
import importlib.util, json, sys, time
from types import SimpleNamespace
import boto3, botocore.client
from boto3.dynamodb.types import TypeSerializer

spec = importlib.util.spec_from_file_location("aws_usage", sys.argv[1])
aws_usage = sys.modules["aws_usage"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(aws_usage)
original, serialize = botocore.client.BaseClient._make_api_call, TypeSerializer().serialize
calls, units = {}, {"write": 0, "read": 0}
raw = boto3.session.Session().client("dynamodb")

def stored(table, params):
    key = params.get("Key") or {k: v for k, v in params["Item"].items() if k in ("pk", "id")}
    key = {k: v if isinstance(v, dict) else serialize(v) for k, v in key.items()}
    item = original(raw, "GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}).get("Item")
    return aws_usage.item_size(item) if item else 0

def metered(self, operation, params):
    name = f"{self.meta.service_model.service_name}.{operation}"
    calls[name] = calls.get(name, 0) + 1
    if not name.startswith("dynamodb.") or operation not in ("GetItem", "PutItem", "UpdateItem"):
        return original(self, operation, params)
    before = stored(params["TableName"], params)
    try:
        return original(self, operation, params)
    finally:
        if operation == "GetItem":
            units["read"] += aws_usage.read_units(before) * (1 if params.get("ConsistentRead") else 0.5)
        else:
            units["write"] += aws_usage.write_units(before, stored(params["TableName"], params))

botocore.client.BaseClient._make_api_call = metered
import handler
ctx = SimpleNamespace(function_name="f", memory_limit_in_mb=1024, invoked_function_arn="arn:aws:lambda:us-east-1:1:function:f",
                      aws_request_id="r", get_remaining_time_in_millis=lambda: 30000)
calls.clear()  # what init called (the secret) is not per event
queue, arn, expected, batch = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
sqs, handled, invocations, results = boto3.client("sqs"), 0, 0, []
deadline = time.time() + 120
while handled < expected:
    assert time.time() < deadline, f"only {handled} of {expected} messages arrived"
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=batch).get("Messages", [])
    records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"], "attributes": {},
                "messageAttributes": {}, "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN": arn,
                "awsRegion": "us-east-1"} for m in messages]
    if not records:
        continue
    result = handler.handler({"Records": records}, ctx)
    invocations, handled = invocations + 1, handled + len(records)
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    sqs.delete_message_batch(QueueUrl=queue, Entries=[{"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                                                      for i, r in enumerate(records) if r["messageId"] not in failed])
    results.append(result)
print("METERED " + json.dumps({"calls": calls, "units": units, "invocations": invocations, "received": handled, "results": results}))
"""


def run_metered(
    bundle: Path, aws: str, tables: dict, pinecone_host: str, queue_url: str, queue_arn: str, expected: int, batch: int
) -> dict:
    """Drain `expected` messages from the queue through the bundle's handler; what every AWS call cost (see METERED)."""
    usage_module = Path(__file__).resolve().parent.parent / "workbench" / "lab" / "aws_usage.py"
    proc = run_in_bundle(
        bundle,
        METERED,
        [str(usage_module), queue_url, queue_arn, str(expected), str(batch)],
        bundle_env(bundle, aws, tables, pinecone_host),
    )
    return json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("METERED "))[8:])
