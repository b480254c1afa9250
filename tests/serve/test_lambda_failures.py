"""The Lambda's record path under failure, on a moto server: an invocation killed mid-reasoning is retried and
handled once within its in-progress expiry; a redelivery after the idempotency record expired neither acts twice
nor gets stuck. The agent is the hashing one with DynamoDB state; idempotency and ledger are Powertools' and ours."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from functools import partial
from types import SimpleNamespace

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from conftest import AWS_ENV, bad_payloads, event, make_table, sqs_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

DRIVER = """
import json, sys, time
from pathlib import Path
from types import SimpleNamespace
from workbench.serve import lambda_handler
from workbench.config import AgentConfig
from workbench.loop import Agent
from workbench.state.dynamodb import DynamoDBStateStore
from workbench.workspace import Workspace
import boto3

def agent(slow=False):
    a = Agent.from_config(AgentConfig(embedder={"kind": "hashing"}), Workspace(Path(sys.argv[2])),
                          state=DynamoDBStateStore(boto3.resource("dynamodb").Table(sys.argv[3]), 1))
    if slow:
        a.reasoner.reason = lambda *args: time.sleep(600)
    return a

lambda_handler.agent = lambda: AGENT
AGENT = agent(slow=sys.argv[4] == "slow")
ctx = SimpleNamespace(function_name="f", memory_limit_in_mb=1024, invoked_function_arn="arn:aws:lambda:us-east-1:1:function:f",
                      aws_request_id="r", get_remaining_time_in_millis=lambda: int(sys.argv[5]))
print("RESULT " + json.dumps(lambda_handler.handler(json.loads(Path(sys.argv[1]).read_text()), ctx)), flush=True)
"""


def _setup(aws, tmp_path, ttl_s="86400"):
    tables = {
        "IDEMPOTENCY_TABLE": make_table(f"idem-{uuid.uuid4().hex[:8]}", "id", "expiration").name,
        "DECISION_TABLE": make_table(f"dec-{uuid.uuid4().hex[:8]}", "pk", "unused").name,
    }
    state = make_table(f"state-{uuid.uuid4().hex[:8]}", "pk", "expires_at").name
    env = {
        **os.environ,
        **AWS_ENV,
        **tables,
        "AWS_ENDPOINT_URL": aws,
        "IDEMPOTENCY_TTL_S": ttl_s,
        "PYTHONPATH": os.getcwd(),
        "POWERTOOLS_METRICS_NAMESPACE": "Test",
    }
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps({"Records": [sqs_record("m1", json.dumps(event("Who won?", event_id="k1")))]}))
    return env, batch, state


def _invoke(env, batch, ws, state, mode="fast", remaining_ms=20000):
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(batch), str(ws), state, mode, str(remaining_ms)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])


def _acted(ws) -> list[str]:
    path = ws / "outbox.jsonl"
    return [json.loads(line)["event_id"] for line in path.read_text().splitlines()] if path.exists() else []


def test_an_invocation_killed_mid_reasoning_is_handled_once_after_its_in_progress_expiry(aws, tmp_path, monkeypatch) -> None:
    import boto3

    from workbench.config import AgentConfig
    from workbench.loop import Agent
    from workbench.serve import lambda_handler
    from workbench.state.dynamodb import DynamoDBStateStore
    from workbench.workspace import Workspace

    env, batch, state = _setup(aws, tmp_path)
    ws = tmp_path / "ws"
    for key in ("IDEMPOTENCY_TABLE", "DECISION_TABLE", "IDEMPOTENCY_TTL_S"):
        monkeypatch.setenv(key, env[key])
    retrier = Agent.from_config(
        AgentConfig(embedder={"kind": "hashing"}),
        Workspace(ws),
        state=DynamoDBStateStore(boto3.resource("dynamodb").Table(state), 1),
    )
    monkeypatch.setattr(lambda_handler, "agent", lambda: retrier)
    lambda_handler.delivery.cache_clear()
    retry = partial(
        lambda_handler.handler,
        json.loads(batch.read_text()),
        SimpleNamespace(
            function_name="f",
            memory_limit_in_mb=1024,
            aws_request_id="r2",
            invoked_function_arn="arn:aws:lambda:us-east-1:1:function:f",
            get_remaining_time_in_millis=lambda: 20000,
        ),
    )

    victim = subprocess.Popen([sys.executable, "-c", DRIVER, str(batch), str(ws), state, "slow", "6000"], env=env)
    idem = boto3.resource("dynamodb").Table(env["IDEMPOTENCY_TABLE"])
    deadline = time.time() + 60
    while not idem.scan()["Items"]:  # wait until the invocation holds its INPROGRESS record, mid-reasoning
        assert time.time() < deadline and victim.poll() is None
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    [record] = idem.scan()["Items"]
    expiry_s = int(record["in_progress_expiration"]) / 1000  # the killed invocation had 6 s left
    assert record["status"] == "INPROGRESS" and time.time() < expiry_s
    with pytest.raises(BatchProcessingError, match="being handled by another attempt"):  # too soon: the whole batch returns
        retry()
    time.sleep(max(0.0, expiry_s - time.time()) + 0.2)
    assert retry() == {"batchItemFailures": []}
    assert _acted(ws) == ["k1"]
    lambda_handler.delivery.cache_clear()


def test_a_redelivery_after_the_record_expired_neither_acts_twice_nor_sticks(aws, tmp_path) -> None:
    env, batch, state = _setup(aws, tmp_path, ttl_s="1")
    ws = tmp_path / "ws"
    assert _invoke(env, batch, ws, state) == {"batchItemFailures": []}
    time.sleep(2.1)
    assert _invoke(env, batch, ws, state) == {"batchItemFailures": []}  # not stuck on a conditional write
    assert _acted(ws) == ["k1"]
    import boto3

    [entry] = boto3.resource("dynamodb").Table(env["DECISION_TABLE"]).scan()["Items"]
    assert entry["pk"] == "acme#k1" and entry["acted"] is True  # the ledger outlived the idempotency record


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bodies=st.lists(bad_payloads(), min_size=1, max_size=4))
def test_bad_records_fail_alone_and_the_batch_goes_on(bodies, aws, tmp_path_factory, monkeypatch) -> None:
    import boto3

    from workbench.config import AgentConfig
    from workbench.loop import Agent
    from workbench.serve import lambda_handler
    from workbench.state.dynamodb import DynamoDBStateStore
    from workbench.workspace import Workspace

    tmp = tmp_path_factory.mktemp("lambda-bad")
    env, _, state = _setup(aws, tmp)
    for key in ("IDEMPOTENCY_TABLE", "DECISION_TABLE"):
        monkeypatch.setenv(key, env[key])
    agent = Agent.from_config(
        AgentConfig(embedder={"kind": "hashing"}),
        Workspace(tmp / "ws"),
        state=DynamoDBStateStore(boto3.resource("dynamodb").Table(state), 1),
    )
    monkeypatch.setattr(lambda_handler, "agent", lambda: agent)
    lambda_handler.delivery.cache_clear()
    good = json.dumps(event("still answered?", event_id="after"))
    records = [sqs_record(f"bad-{i}", b.decode("utf-8", "replace")) for i, b in enumerate(bodies)]
    records.append({**records[0], "messageId": "good", "body": good})
    ctx = SimpleNamespace(
        function_name="f",
        memory_limit_in_mb=1024,
        aws_request_id="r",
        invoked_function_arn="arn:aws:lambda:us-east-1:1:function:f",
        get_remaining_time_in_millis=lambda: 20000,
    )
    result = lambda_handler.handler({"Records": records}, ctx)
    assert result == {"batchItemFailures": [{"itemIdentifier": f"bad-{i}"} for i in range(len(bodies))]}  # each fails alone
    assert _acted(tmp / "ws") == ["after"]
    lambda_handler.delivery.cache_clear()
