"""Step Functions: the exported workflow is valid, and walking it decides exactly as `Agent.handle` does."""

import json
from functools import partial

import pytest
import yaml
from conftest import CORPUS, event, ingested_agent, sqs_record

from workbench.config import AgentConfig
from workbench.deploy import state_machine as asl
from workbench.deploy.bundle import export_bundle
from workbench.events import Event
from workbench.serve import step_functions


def test_definition_is_valid_and_retries_with_backoff() -> None:
    definition = asl.state_machine(30)
    asl.validate_state_machine(definition)
    embed = definition["States"]["Embed"]
    assert embed["Next"] == "Retrieve" and definition["States"]["Act"]["End"] is True
    assert embed["Retry"][0]["BackoffRate"] == 2.0 and embed["Catch"][0]["Next"] == "DeadLetter"
    assert definition["States"]["DeadLetter"]["Next"] == "Failed"
    assert definition["States"]["Act"]["Retry"][0]["ErrorEquals"] == ["States.ALL"]  # Act is idempotent: retry anything
    # States.ALL does not match a payload over the quota, so every step names it; sending the dead letter is retried
    assert all(
        st["Catch"][0]["ErrorEquals"] == ["States.DataLimitExceeded"]
        for name, st in definition["States"].items()
        if name in asl.STEPS
    )
    assert definition["States"]["DeadLetter"]["Retry"][0]["ErrorEquals"] == ["States.ALL"]


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda d: d.update(StartAt="Nowhere"), "StartAt 'Nowhere'"),
        (lambda d: d["States"]["Embed"].update(Next="Nowhere"), "'Embed' goes to 'Nowhere'"),
        (lambda d: d["States"]["Act"].pop("End"), "'Act' has neither Next nor End"),
        (lambda d: d["States"]["Reason"]["Retry"][0].update(BackoffRate=0.5), "invalid Retry"),
    ],
)
def test_broken_definitions_are_named(breakage, message) -> None:
    definition = asl.state_machine(30)
    breakage(definition)
    with pytest.raises(ValueError, match=message):
        asl.validate_state_machine(definition)


def _delivery(agent, tmp_path):
    from workbench.serve.delivery import Delivery
    from workbench.serve.idempotency import SQLitePersistenceLayer
    from workbench.serve.ledger import SQLiteLedger

    return Delivery(agent, SQLitePersistenceLayer(tmp_path / "idem.db"), SQLiteLedger(tmp_path / "ledger.db"))


def _steps(agent, delivery, dead: list):
    steps = {
        name: partial(step_functions.run_step, getattr(step_functions, name.lower()), agent, config=agent.config)
        for name in ("Embed", "Retrieve")
    }
    return {
        **steps,
        **{
            name: partial(step_functions.run_step, getattr(step_functions, name.lower()), delivery, config=agent.config)
            for name in ("Reason", "Act")
        },
        "DeadLetter": lambda state: dead.append(state) or state,
    }


def _input(text: str, **fields) -> dict:
    return json.loads(step_functions.execution_input(Event(**event(text, **fields))))


def test_walking_the_workflow_decides_like_the_single_function(hashing_config, workspace, tmp_path) -> None:
    agent = ingested_agent(hashing_config, workspace, tmp_path, CORPUS)
    dead: list = []
    steps = _steps(agent, _delivery(agent, tmp_path), dead)
    question = "What is the atomic number of oxygen?"
    out = asl.run_locally(asl.state_machine(30), steps, _input(question, user="sfn"))
    direct = agent.handle(Event(**event(question, user="direct")))
    assert out["answer"] == direct.answer and not out["escalated"]
    assert [m.content for m in agent.state.load("acme", "user#sfn").history] == [question, direct.answer]

    def broken(state):
        raise ConnectionError("index down; mail ops@example.com")

    with pytest.raises(RuntimeError, match="AgentStepFailed: StepFailed: ConnectionError: index down"):
        asl.run_locally(
            asl.state_machine(30),
            {**steps, "Retrieve": partial(step_functions.run_step, lambda _, s: broken(s), agent, config=agent.config)},
            _input("x, from bob@example.com"),
        )
    assert [d["error"] for d in dead] == ["StepFailed: ConnectionError: index down; mail [EMAIL]"]  # the error is redacted
    redrive = json.loads(dead[0]["dead_letter"])  # the body the DeadLetter state sends: an event the starter accepts
    assert redrive["text"] == "x, from [EMAIL]" and Event(**redrive).event_id == dead[0]["event"]["event_id"]


def test_the_state_carries_no_contexts_and_a_retried_act_acts_once(hashing_config, workspace, tmp_path) -> None:
    agent = ingested_agent(hashing_config, workspace, tmp_path, CORPUS)
    delivery = _delivery(agent, tmp_path)
    steps = _steps(agent, delivery, [])
    state = _input("What is oxygen?", user="retry")
    for name in asl.STEPS[:-1]:
        state = steps[name](state)
    assert set(state) == {"event", "dead_letter"}  # Reason committed the decision to the ledger; hits stay behind
    first, again = steps["Act"](state), steps["Act"](state)  # Step Functions retried Act after it had acted
    assert first == again
    outbox = [json.loads(line) for line in workspace.outbox.read_text().splitlines()]
    assert [o["event_id"] for o in outbox].count(state["event"]["event_id"]) == 1


def test_a_state_over_the_payload_quota_fails_its_step_naming_what_to_lower(hashing_config, workspace, tmp_path) -> None:
    import random

    words = [f"w{i}" for i in range(500)]
    rng = random.Random(7)
    docs = [
        {"id": f"big{i}", "text": " ".join(rng.choice(words) for _ in range(580)), "metadata": {"tenant": "acme"}}
        for i in range(90)
    ]
    cfg = hashing_config.with_overrides({"retrieval.top_k": 90, "retrieval.chunking.size": 3000})
    agent = ingested_agent(cfg, workspace, tmp_path, docs)
    state = step_functions.run_step(step_functions.embed, agent, _input("w1 w2 w3"), agent.config)
    with pytest.raises(
        step_functions.StepFailed, match=r"retrieve step's output is \d+ bytes.*retrieval.top_k \(90\).*chunking.size \(3000\)"
    ):
        step_functions.run_step(step_functions.retrieve, agent, state, agent.config)


def test_execution_names_are_unique_per_tenant_and_event() -> None:
    ids = ["order/1", "order?1", "order-1", "x" * 200 + "a", "x" * 200 + "b"]
    names = {
        step_functions.execution_name(Event(**event("q", tenant=t, event_id=i)), attempt)
        for t in ("acme", "globex")
        for i in ids
        for attempt in (1, 2, step_functions.MAX_ATTEMPTS)
    }
    assert len(names) == 2 * len(ids) * 3
    assert all(len(n) <= 80 and all(c.isalnum() or c in "-_" for c in n) for n in names)


def test_export_wires_the_workflow(tmp_path) -> None:
    cfg = AgentConfig(deploy={"orchestration": "step_functions"})
    report = export_bundle(cfg, tmp_path / "sfn", check_model=False)
    assert report.checks["cfn_lint"] == "passed"
    template = yaml.safe_load((report.out / "template.yaml").read_text())["Resources"]
    machine = template["AgentStateMachine"]["Properties"]
    assert machine["Definition"] == json.loads((report.out / "statemachine.asl.json").read_text())
    assert set(machine["DefinitionSubstitutions"]) == {f"{s}Arn" for s in asl.STEPS} | {"DeadLetterQueueUrl"}
    alarm = template["ExecutionsFailedAlarm"]["Properties"]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m} == {
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionsAborted",
    }
    starter = template["StarterFunction"]["Properties"]["Policies"][0]["Statement"]
    assert [a for st in starter for a in st["Action"]][:2] == ["states:StartExecution", "states:DescribeExecution"]
    mapping = template["QueueMapping"]["Properties"]
    assert mapping["FunctionName"] == {"Ref": "StarterFunction"} and mapping["FunctionResponseTypes"] == [
        "ReportBatchItemFailures"
    ]
    assert template["EmbedFunction"]["Properties"]["ImageConfig"]["Command"] == ["handler.embed_step"]
    assert "start_handler" in (report.out / "handler.py").read_text()


def _machine(sfn, definition: dict) -> str:
    import uuid

    return sfn.create_state_machine(
        name=f"agent-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/agent"
    )["stateMachineArn"]


def _start(batch: list) -> dict:
    from types import SimpleNamespace

    from workbench.serve import lambda_handler

    ctx = SimpleNamespace(
        function_name="starter",
        aws_request_id="r",
        get_remaining_time_in_millis=lambda: 30000,
        memory_limit_in_mb=512,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:starter",
    )
    return lambda_handler.start_handler({"Records": batch}, ctx)


def test_the_starter_runs_one_execution_per_event_and_a_new_attempt_after_one_closed(aws, monkeypatch) -> None:
    import boto3

    from workbench.serve import lambda_handler

    sfn = boto3.client("stepfunctions")
    arn = _machine(sfn, asl.state_machine(30))
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    lambda_handler._stepfunctions.cache_clear()
    first = json.dumps(event("Who won?", event_id="evt-1"))
    assert _start([sqs_record("a", first), sqs_record("poison", "{nope"), sqs_record("again", first)]) == {
        "batchItemFailures": [{"itemIdentifier": "poison"}]
    }
    name = step_functions.execution_name(Event(**event("Who won?", event_id="evt-1")))
    assert [e["name"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]] == [name]  # the redelivery found it
    sfn.stop_execution(executionArn=arn.replace(":stateMachine:", ":execution:") + ":" + name)  # ABORTED: a closed name
    for message_id in ("redelivered", "once more"):
        assert _start([sqs_record(message_id, first)]) == {"batchItemFailures": []}
    names = sorted(e["name"] for e in sfn.list_executions(stateMachineArn=arn)["executions"])
    assert names == [name, f"{name}-2"]  # one new attempt, still running when the second redelivery came


def _moto_config(endpoint: str, execute: bool) -> None:
    import urllib.request

    body = json.dumps({"stepfunctions": {"execute_state_machine": execute}}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/config", data=body, method="POST")).read()


def test_a_failed_execution_dead_letters_a_redacted_body_that_redrives(aws, monkeypatch) -> None:
    """moto executes the exported definition (its Lambda tasks point at functions that do not exist, so Embed fails):
    the DeadLetter state sends the event, redacted, with the error beside it; the starter takes that body back and
    starts a second attempt."""
    import time

    import boto3

    from workbench.serve import lambda_handler

    _moto_config(aws, execute=True)
    try:
        sqs, sfn = boto3.client("sqs"), boto3.client("stepfunctions")
        dlq = sqs.create_queue(QueueName=f"dlq-{time.time_ns()}")["QueueUrl"]
        text = json.dumps(asl.state_machine(30)).replace("${DeadLetterQueueUrl}", dlq)
        for step in asl.STEPS:
            text = text.replace(f"${{{step}Arn}}", f"arn:aws:lambda:us-east-1:123456789012:function:missing-{step}")
        arn = _machine(sfn, json.loads(text))
        monkeypatch.setenv("STATE_MACHINE_ARN", arn)
        lambda_handler._stepfunctions.cache_clear()
        original = event("Card 4111 1111 1111 1111 was charged twice", event_id="evt-dl")
        assert _start([sqs_record("m1", json.dumps(original))]) == {"batchItemFailures": []}
        letters = []
        deadline = time.time() + 60
        while not letters and time.time() < deadline:
            letters = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"], WaitTimeSeconds=1).get("Messages", [])
        [letter] = letters
        body = json.loads(letter["Body"])
        assert body["text"] == "Card [CARD] was charged twice" and body["event_id"] == "evt-dl"
        assert "missing-Embed" in letter["MessageAttributes"]["error"]["StringValue"]
        assert _start([sqs_record("redrive", letter["Body"])]) == {"batchItemFailures": []}  # the redrive is accepted
        name = step_functions.execution_name(Event(**original))
        assert sorted(e["name"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]) == [name, f"{name}-2"]
    finally:
        _moto_config(aws, execute=False)


def test_the_starter_sends_bad_input_to_the_dlq_and_starts_the_rest_of_its_message(aws, monkeypatch) -> None:
    """It raised at the first bad event: the message was retried until SQS moved it, with the reason in a log line,
    and the good events after it in the same body waited for the retries."""
    import time

    import boto3

    from workbench.serve import lambda_handler

    sqs, sfn = boto3.client("sqs"), boto3.client("stepfunctions")
    dlq = sqs.create_queue(QueueName=f"dlq-{time.time_ns()}")["QueueUrl"]
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dlq)
    arn = _machine(sfn, asl.state_machine(30))
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    lambda_handler._stepfunctions.cache_clear()
    good = event("Who won?", event_id="evt-good")
    body = json.dumps([{**event("card 4111 1111 1111 1111", event_id="evt-bad"), "colour": "red"}, good])
    assert _start([sqs_record("mixed", body)]) == {"batchItemFailures": []}
    executions = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert [e["name"] for e in executions] == [step_functions.execution_name(Event(**good))]
    [letter] = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
    attrs = {k: v["StringValue"] for k, v in letter["MessageAttributes"].items()}
    assert attrs["error"] == "sqs message mixed[0]: colour: unknown field (put extra data under metadata)"
    assert attrs["source"] == "sqs message mixed[0]" and "4111 1111" not in letter["Body"]
