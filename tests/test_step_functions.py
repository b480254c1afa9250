"""Step Functions: the exported workflow is valid, and walking it decides exactly as `Agent.handle` does."""

import json
from functools import partial

import pytest
import yaml
from conftest import event, ingested_agent
from test_loop import CORPUS

from workbench import stages
from workbench.config import AgentConfig
from workbench.events import Event
from workbench.export.bundle import export_bundle


def test_definition_is_valid_and_retries_with_backoff() -> None:
    definition = stages.state_machine(30)
    stages.validate_state_machine(definition)
    embed = definition["States"]["Embed"]
    assert embed["Next"] == "Retrieve" and definition["States"]["Act"]["End"] is True
    assert embed["Retry"][0]["BackoffRate"] == 2.0 and embed["Catch"][0]["Next"] == "DeadLetter"
    assert definition["States"]["DeadLetter"]["Next"] == "Failed"
    assert definition["States"]["Act"]["Retry"][0]["ErrorEquals"] == ["States.ALL"]  # Act is idempotent: retry anything


@pytest.mark.parametrize("breakage, message", [
    (lambda d: d.update(StartAt="Nowhere"), "StartAt 'Nowhere'"),
    (lambda d: d["States"]["Embed"].update(Next="Nowhere"), "'Embed' goes to 'Nowhere'"),
    (lambda d: d["States"]["Act"].pop("End"), "'Act' has neither Next nor End"),
    (lambda d: d["States"]["Reason"]["Retry"][0].update(BackoffRate=0.5), "invalid Retry"),
])
def test_broken_definitions_are_named(breakage, message) -> None:
    definition = stages.state_machine(30)
    breakage(definition)
    with pytest.raises(ValueError, match=message):
        stages.validate_state_machine(definition)


def _delivery(agent, tmp_path):
    from workbench.delivery import Delivery
    from workbench.idempotency import SQLitePersistenceLayer
    from workbench.ledger import SQLiteLedger

    return Delivery(agent, SQLitePersistenceLayer(tmp_path / "idem.db"), SQLiteLedger(tmp_path / "ledger.db"))


def _steps(agent, delivery, dead: list):
    steps = {name: partial(getattr(stages, name.lower()), agent) for name in stages.STEPS[:-1]}
    return {**steps, "Act": partial(stages.act, delivery), "DeadLetter": lambda state: dead.append(state) or state}


def test_walking_the_workflow_decides_like_the_single_function(hashing_config, workspace, tmp_path) -> None:
    agent = ingested_agent(hashing_config, workspace, tmp_path, CORPUS)
    dead: list = []
    steps = _steps(agent, _delivery(agent, tmp_path), dead)
    question = "What is the atomic number of oxygen?"
    out = stages.run_locally(stages.state_machine(30), steps, {"event": json.loads(Event(**event(question, user="sfn")).model_dump_json())})
    direct = agent.handle(Event(**event(question, user="direct")))
    assert out["answer"] == direct.answer and not out["escalated"]
    assert [m.content for m in agent.state.load("acme", "user#sfn").history] == [question, direct.answer]

    def broken(state):
        raise ConnectionError("index down")

    with pytest.raises(RuntimeError, match="AgentStepFailed: ConnectionError: index down"):
        stages.run_locally(stages.state_machine(30), {**steps, "Retrieve": broken}, {"event": json.loads(Event(**event("x")).model_dump_json())})
    assert [d["error"] for d in dead] == ["ConnectionError: index down"]  # the failed execution's input reached the DLQ
    assert dead[0]["event"]["text"] == "x"


def test_a_retried_act_step_acts_once(hashing_config, workspace, tmp_path) -> None:
    agent = ingested_agent(hashing_config, workspace, tmp_path, CORPUS)
    delivery = _delivery(agent, tmp_path)
    steps = _steps(agent, delivery, [])
    state = {"event": json.loads(Event(**event("What is oxygen?", user="retry")).model_dump_json())}
    for name in stages.STEPS[:-1]:
        state = steps[name](state)
    first, again = steps["Act"](state), steps["Act"](state)  # Step Functions retried Act after it had acted
    assert first == again
    outbox = [json.loads(line) for line in workspace.outbox.read_text().splitlines()]
    assert [o["event_id"] for o in outbox].count(state["event"]["event_id"]) == 1


def test_execution_names_are_unique_per_tenant_and_event() -> None:
    ids = ["order/1", "order?1", "order-1", "x" * 200 + "a", "x" * 200 + "b"]
    names = {stages.execution_name(Event(**event("q", tenant=t, event_id=i))) for t in ("acme", "globex") for i in ids}
    assert len(names) == 2 * len(ids)
    assert all(len(n) <= 80 and all(c.isalnum() or c in "-_" for c in n) for n in names)


def test_export_wires_the_workflow(tmp_path) -> None:
    cfg = AgentConfig(deploy={"orchestration": "step_functions"})
    report = export_bundle(cfg, tmp_path / "sfn", check_model=False)
    assert report.checks["cfn_lint"] == "passed"
    template = yaml.safe_load((report.out / "template.yaml").read_text())["Resources"]
    machine = template["AgentStateMachine"]["Properties"]
    assert machine["Definition"] == json.loads((report.out / "statemachine.asl.json").read_text())
    assert set(machine["DefinitionSubstitutions"]) == {f"{s}Arn" for s in stages.STEPS} | {"DeadLetterQueueUrl"}
    mapping = template["QueueMapping"]["Properties"]
    assert mapping["FunctionName"] == {"Ref": "StarterFunction"} and mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert template["EmbedFunction"]["Properties"]["ImageConfig"]["Command"] == ["handler.embed_step"]
    assert "start_handler" in (report.out / "handler.py").read_text()


def sqs_record(message_id: str, body: str) -> dict:
    return {"messageId": message_id, "receiptHandle": f"rh-{message_id}", "body": body, "attributes": {},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:events", "awsRegion": "us-east-1"}


def test_the_starter_runs_one_execution_per_event(aws, monkeypatch) -> None:
    import uuid
    from types import SimpleNamespace

    import boto3

    from workbench import lambda_runtime

    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(name=f"agent-{uuid.uuid4().hex[:8]}", definition=json.dumps(stages.state_machine(30)),
                                   roleArn="arn:aws:iam::123456789012:role/agent")["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    lambda_runtime._stepfunctions.cache_clear()
    first = json.dumps(event("Who won?", event_id="evt-1"))
    batch = {"Records": [sqs_record("a", first), sqs_record("poison", "{nope"), sqs_record("again", first)]}
    ctx = SimpleNamespace(function_name="starter", aws_request_id="r", get_remaining_time_in_millis=lambda: 30000, memory_limit_in_mb=512,
                          invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:starter")
    assert lambda_runtime.start_handler(batch, ctx) == {"batchItemFailures": [{"itemIdentifier": "poison"}]}
    executions = sfn.list_executions(stateMachineArn=arn)["executions"]
    # the redelivery found its execution already there
    assert [e["name"] for e in executions] == [stages.execution_name(Event(**event("Who won?", event_id="evt-1")))]
