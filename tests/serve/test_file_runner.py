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
        json.dumps(
            {
                "Records": [
                    {"messageId": "m1", "body": json.dumps(event("second"))},
                    {"messageId": "m2", "body": json.dumps({"text": "no ids"})},
                ]
            }
        ).encode(),
        b"\xc3\x28",
    ]
    dlq = DeadLetterFile(workspace.deadletter)
    summary = run_payloads(make_delivery(agent, workspace.root), [("payload", p) for p in payloads], dlq, budget_s=5)
    assert summary.processed == 2 and summary.rejected == 4
    assert [d.question for d in summary.decisions] == ["first", "second"]
    letters = list(dlq)
    assert [(x["stage"], x["source"]) for x in letters] == [
        ("parse", "payload"),
        ("handle", "payload"),
        ("parse", "payload/sqs:m2"),
        ("parse", "payload"),
    ]
    assert "TimeoutError: reasoner timed out" in letters[1]["reason"]
    assert letters[1]["raw"]["text"] == "please explode"  # the event itself is kept for a retry
    assert "event_id: missing" in letters[2]["reason"]
    assert letters[3]["raw"] == {"bytes": "\\xc3("} and "UTF-8" in letters[3]["reason"]  # the bad byte, where it sits


def test_printed_reasons_survive_lone_surrogates_and_show_terminal_controls_escaped(tmp_path) -> None:
    """A lone surrogate in a metadata key or an SQS messageId crashed the summary ('utf-8' codec can't encode);
    an ANSI escape in a message id reached the terminal raw."""
    import os
    import subprocess
    import sys

    lines = [
        {**event("ok"), "metadata": {"\ud800": "x"}},
        {"Records": [{"messageId": "\ud800", "body": "{oops"}]},
        {"Records": [{"messageId": "\x1b[2J\x9b31m", "body": "{oops"}]},
        event("fine"),
    ]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))  # ASCII: \ud800 as an escape
    (tmp_path / "h.yaml").write_text("embedder: {kind: hashing}\n")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "run-events",
            str(tmp_path / "events.jsonl"),
            "--home",
            str(tmp_path / "ws"),
            "--config",
            str(tmp_path / "h.yaml"),
        ],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": os.getcwd(), "PYTHONIOENCODING": "utf-8"},
        timeout=120,
        check=False,
    )
    # A real stdout (strict, unlike stderr): CliRunner hid the crash, and click strips ANSI only when not a terminal.
    out = run.stdout.decode("utf-8")
    assert run.returncode == 0, run.stderr.decode()
    rejected = [line for line in out.splitlines() if line.startswith("  rejected: ")]
    assert len(rejected) == 3 and "metadata.\\ud800" in rejected[0] and "sqs:\\ud800" in rejected[1]
    assert "sqs:\\x1b[2J\\x9b31m" in rejected[2] and not any(c in out for c in "\x1b\x9b")
