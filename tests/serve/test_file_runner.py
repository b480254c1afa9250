"""A stream with bad events: good ones answered, bad ones dead-lettered with a reason, the run goes on."""

import json

from conftest import event, make_delivery

from workbench.loop import Agent
from workbench.serve.deadletter import DeadLetterFile
from workbench.serve.file_runner import run_payloads


class FlakyReasoner:
    """Fails on one question, to prove a processing error is dead-lettered and the worker carries on."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def reason(self, question, prompt, hits):
        if "explode" in question:
            raise TimeoutError("reasoner timed out after 30s")
        return self.inner.reason(question, prompt, hits)


def test_every_payload_is_answered_or_dead_lettered(hashing_config, workspace) -> None:
    base = Agent.from_config(hashing_config, workspace)
    agent = Agent.from_config(hashing_config, workspace, reasoner=FlakyReasoner(base.reasoner))
    payloads = [
        json.dumps(event("first")).encode(),
        b"{broken",
        json.dumps(event("please explode")).encode(),
        json.dumps({"Records": [{"messageId": "m1", "body": json.dumps(event("second"))},
                                {"messageId": "m2", "body": json.dumps({"text": "no ids"})}]}).encode(),
        b"\xc3\x28",
    ]
    dlq = DeadLetterFile(workspace.deadletter)
    summary = run_payloads(make_delivery(agent, workspace.root), [("payload", p) for p in payloads], dlq, budget_s=5)
    assert summary.processed == 2 and summary.rejected == 4
    assert [d.question for d in summary.decisions] == ["first", "second"]
    letters = list(dlq)
    assert [(x["stage"], x["source"]) for x in letters] == [("parse", "payload"), ("handle", "payload"), ("parse", "payload/sqs:m2"), ("parse", "payload")]
    assert "TimeoutError: reasoner timed out" in letters[1]["reason"]
    assert letters[1]["raw"]["text"] == "please explode"  # the event itself is kept for a retry
    assert "event_id: missing" in letters[2]["reason"]
    assert letters[3]["raw"] == {"bytes": "\\xc3("} and "UTF-8" in letters[3]["reason"]  # the bad byte, where it sits
