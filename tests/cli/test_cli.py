"""The CLI as users run it: a subprocess, real files, exit codes and messages (hashing embedder to stay fast)."""

import json
import subprocess
import sys

import pytest
from conftest import event

from workbench.config import AgentConfig


def run(*args, home, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args],
        capture_output=True,
        text=True,
        env={"WORKBENCH_HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


COMMANDS = [
    [],
    ["ingest"],
    ["ask"],
    ["run-events"],
    ["demo"],
    ["config"],
    ["config", "show"],
    ["config", "validate"],
    ["eval"],
    ["sweep"],
    ["compare"],
    ["promote"],
    ["ui"],
    ["build-evalset"],
    ["schedule"],
    ["export"],
    ["pinecone-load"],
    ["publish"],
    ["worker"],
    ["dlq"],
    ["dlq", "list"],
    ["dlq", "redrive"],
    ["replay"],
    ["gate"],
    ["diff"],
]


def test_the_help_lists_every_command(tmp_path) -> None:
    listed = run("--help", home=tmp_path).stdout
    assert all(cmd[0] in listed for cmd in COMMANDS if cmd)


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "workbench")
def test_every_command_has_help(cmd, tmp_path) -> None:
    out = run(*cmd, "--help", home=tmp_path).stdout
    assert "Usage:" in out


def test_config_show_and_validate(tmp_path) -> None:
    shown = run("config", "show", home=tmp_path).stdout
    assert f"config_id: {AgentConfig().config_id}" in shown
    path = tmp_path / "bad.yaml"
    path.write_text("retrieval:\n  top_k: lots\n")
    bad = run("config", "validate", str(path), home=tmp_path, check=False)
    assert bad.returncode == 2
    assert "retrieval.top_k" in bad.stderr and "'lots'" in bad.stderr and "Traceback" not in bad.stderr


def test_ingest_then_run_events_with_a_bad_line(tmp_path) -> None:
    cfg = AgentConfig(embedder={"kind": "hashing"}).save(tmp_path / "c.yaml")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "sb", "text": "The Denver Broncos won Super Bowl 50."}) + "\n")
    ingested = json.loads(run("ingest", str(corpus), "--config", str(cfg), "--tenant", "acme", home=tmp_path / "ws").stdout)
    assert ingested["written"] == 1

    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(event("Who won Super Bowl 50?")) + "\n{oops\n")
    proc = run("run-events", str(events), "--config", str(cfg), "--json", home=tmp_path / "ws")
    [decision] = [json.loads(line) for line in proc.stdout.splitlines()]  # stdout is pure JSON; the tally is on stderr
    assert decision["citations"] == ["sb#c0"]
    assert "processed 1, duplicates 0, rejected 1" in proc.stderr
    assert (tmp_path / "ws" / "deadletter.jsonl").read_text().count("invalid JSON") == 1


def test_ask_rejects_bad_input_with_a_message(tmp_path) -> None:
    cfg = AgentConfig(embedder={"kind": "hashing"}).save(tmp_path / "c.yaml")
    bad = run("ask", "  ", "--tenant", "acme", "--config", str(cfg), home=tmp_path, check=False)
    assert bad.returncode == 2 and "text is empty" in bad.stderr
    bad = run(
        "ask", "q", "--tenant", "acme", "--filter", '{"year": {"$gt": "x"}}', "--config", str(cfg), home=tmp_path, check=False
    )
    assert bad.returncode == 2 and "expected a number" in bad.stderr


@pytest.fixture
def hashing_yaml(tmp_path):
    path = tmp_path / "hashing.yaml"
    path.write_text("embedder:\n  kind: hashing\n")
    return path


def test_verbose_mode_acts_once_on_every_entry_point(tmp_path, hashing_yaml) -> None:
    home = tmp_path / "ws"
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(event(f"question {i}?", event_id=f"v{i}")) for i in range(3)) + "\n")
    ran = run("-v", "run-events", str(events), "-c", str(hashing_yaml), "--json", home=home)
    assert [json.loads(line)["event_id"] for line in ran.stdout.splitlines()] == ["v0", "v1", "v2"]  # pure JSON
    assert "decision" in ran.stderr and AgentConfig(embedder={"kind": "hashing"}).config_id in ran.stderr
    queued = tmp_path / "queued.jsonl"
    queued.write_text("\n".join(json.dumps(event(f"queued {i}?", event_id=f"w{i}")) for i in range(3)) + "\n{bad\n")
    run("publish", str(queued), home=home)
    worked = run("-v", "worker", "-c", str(hashing_yaml), "--json", home=home)
    assert json.loads(worked.stdout) == {
        **{"processed": 3, "duplicates": 0, "dead_lettered": 1, "retried": 0, "crashed": 0},
        "queue": {"visible": 0, "in_flight": 0, "dead": 1},
    }
    asked = run("-v", "ask", "Who?", "--tenant", "acme", "-c", str(hashing_yaml), "--json", home=home)
    assert json.loads(asked.stdout)["question"] == "Who?"
    acted = [json.loads(line)["event_id"] for line in (home / "outbox.jsonl").read_text().splitlines()]
    assert len(acted) == len(set(acted)) == 7  # three files' events, three queued, one asked: each acted once


def test_dlq_redrive_names_an_id_it_does_not_hold(tmp_path) -> None:
    """A mistyped id re-queued nothing and exited 0 ("re-queued 0 messages"), as if the redrive had been done."""
    events = tmp_path / "bad.jsonl"
    events.write_text("{bad\n")
    run("publish", str(events), home=tmp_path / "ws")
    run("worker", "-c", str(AgentConfig(embedder={"kind": "hashing"}).save(tmp_path / "c.yaml")), home=tmp_path / "ws")
    [letter] = [json.loads(line) for line in run("dlq", "list", home=tmp_path / "ws").stdout.splitlines()]
    proc = run("dlq", "redrive", letter["id"], "nope", home=tmp_path / "ws", check=False)
    assert proc.returncode == 2 and "no dead letter with id nope" in proc.stderr
    assert "re-queued 1 messages" in run("dlq", "redrive", letter["id"], home=tmp_path / "ws").stdout  # nothing was moved


def test_export_json_is_one_object(tmp_path, monkeypatch) -> None:
    """The CLI's side of `export --json` (the bundle itself is built by the export tests)."""
    from typer.testing import CliRunner

    from workbench.cli import app
    from workbench.deploy import bundle

    report = bundle.ExportReport(tmp_path / "b", "abc123", {"cfn_lint": "passed"})
    monkeypatch.setattr(bundle, "export_bundle", lambda cfg, out, **_: report)
    cfg = AgentConfig(name="shipped").save(tmp_path / "c.yaml")
    result = CliRunner().invoke(app, ["export", "-o", str(tmp_path / "b"), "-c", str(cfg), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "out": str(tmp_path / "b"),
        "name": "shipped",
        "config_id": AgentConfig(name="shipped").config_id,
        "checks": {"cfn_lint": "passed"},
    }


def test_eval_json_is_pure_and_lab_commands_explain_mistakes(tmp_path, hashing_yaml, squad_subset) -> None:
    home = tmp_path / "ws"
    evaluated = run(
        "-v",
        "eval",
        "-c",
        str(hashing_yaml),
        "--corpus",
        str(squad_subset),
        "--limit",
        "4",
        "--repeats",
        "2",
        "--no-traces",
        "--json",
        home=home,
    )
    summary = json.loads(evaluated.stdout)  # nothing but JSON on stdout, with -v too
    assert summary["questions"] == 4 and summary["repeats"] == 2 and summary["ndcg_at_10_ci_low"] <= summary["ndcg_at_10"]
    assert "not run (no --judge): faithfulness" in evaluated.stderr and "not run" not in evaluated.stdout
    shown = run("eval", "-c", str(hashing_yaml), "--corpus", str(squad_subset), "--limit", "4", home=home).stdout
    assert "4 questions x 1 repeats" in shown and "latency_total_p95_ms" in shown and "[" in shown
    assert run("eval", "--repeats", "0", home=home, check=False).returncode == 2
    for cmd in (["eval"], ["build-evalset", str(squad_subset), "--out", str(tmp_path / "e.jsonl")]):
        limited = run(*cmd, "--limit", "0", home=home, check=False)
        assert limited.returncode == 2 and "Invalid value for '--limit'" in limited.stderr and "Traceback" not in limited.stderr

    gate = run(
        "gate",
        "--baseline",
        summary["run_id"],
        "--metric",
        "ndcg_at_10",
        "--metric",
        "hit_rate_at_k",
        "--margin",
        "0.1",
        "--margin",
        "0.1",
        "--margin",
        "0.1",
        home=home,
        check=False,
    )
    assert gate.returncode == 2 and "give one margin for all, or one per metric" in gate.stderr and "Traceback" not in gate.stderr
    unknown = run("gate", "--baseline", "nightly", "--metric", "ndcg_at_10", "--margin", "0.01", home=home, check=False)
    assert unknown.returncode == 2 and "'nightly' is neither a run id, a promoted name nor a configuration name" in unknown.stderr
    wrong = run("gate", "--baseline", summary["run_id"], "--metric", "ndcg_at_11", "--margin", "0.01", home=home, check=False)
    assert wrong.returncode == 2 and "--metric ndcg_at_11" in wrong.stderr and "choose from" in wrong.stderr
    same = run("diff", summary["run_id"], summary["run_id"], home=home)
    assert "no question changed" in same.stdout
    scheduled = run("schedule", str(tmp_path / "missing.ipynb"), "-p", "limit=2", home=home, check=False)
    assert scheduled.returncode == 2 and "missing.ipynb: no such notebook" in scheduled.stderr
    unparsed = run("schedule", "-p", "limit=[2", home=home, check=False)
    assert unparsed.returncode == 2 and "--param 'limit=[2'" in unparsed.stderr and "Traceback" not in unparsed.stderr


def test_two_tenants_never_share_a_conversation(tmp_path, hashing_yaml) -> None:
    home = tmp_path / "ws"
    run("ask", "my account number is 1234", "--tenant", "tenant-a", "--user", "alice", "-c", str(hashing_yaml), home=home)
    other = json.loads(
        run("ask", "hello", "--tenant", "tenant-b", "--user", "alice", "-c", str(hashing_yaml), "--json", home=home).stdout
    )
    assert "account number" not in other["prompt"]


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--max-receives", "0", "--max-receives"),
        ("--visibility-timeout", "-1", "--visibility-timeout"),
        ("--visibility-timeout", "0.001", "--visibility-timeout"),
        ("--concurrency", "0", "--concurrency"),
    ],
)
def test_worker_options_are_range_checked(flag, value, message, tmp_path) -> None:
    proc = run("worker", flag, value, home=tmp_path, check=False)
    assert proc.returncode == 2 and message in proc.stderr


def test_ask_on_a_read_only_workspace_names_the_file(tmp_path) -> None:
    """Root ignores file modes, so as root the CLI runs without the capability that lets it (setpriv)."""
    import os
    import shutil

    cfg = AgentConfig(embedder={"kind": "hashing"}).save(tmp_path / "c.yaml")
    home = tmp_path / "ws"
    run("ask", "first", "--tenant", "acme", "--config", str(cfg), home=home)
    drop = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: file modes cannot be enforced")
        drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"]
    (home / "state.sqlite").chmod(0o444)
    for ro_dir in (False, True):
        if ro_dir:
            home.chmod(0o555)
        proc = subprocess.run(
            [*drop, sys.executable, "-m", "workbench.cli", "ask", "again", "--tenant", "acme", "--config", str(cfg)],
            capture_output=True,
            text=True,
            env={"WORKBENCH_HOME": str(home), "PATH": "/usr/bin:/bin"},
        )
        home.chmod(0o755)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert f"error: {home}/" in proc.stderr and "cannot write" in proc.stderr and "writable" in proc.stderr


def test_run_events_json_marks_repeats(tmp_path) -> None:
    cfg = AgentConfig(embedder={"kind": "hashing"}).save(tmp_path / "c.yaml")
    events = tmp_path / "events.jsonl"
    events.write_text(
        "\ufeff" + json.dumps(event("Who won?", event_id="r1")) + "\n" + json.dumps(event("Who won?", event_id="r1")) + "\n"
    )
    proc = run("run-events", str(events), "--config", str(cfg), "--json", home=tmp_path / "ws")
    assert [json.loads(line)["duplicate"] for line in proc.stdout.splitlines()] == [False, True]  # a BOM is no bad line
    assert "processed 1, duplicates 1, rejected 0" in proc.stderr


def test_ask_names_a_file_it_cannot_write_whatever_the_os_error(tmp_path) -> None:
    """A read-only file system (EROFS) or a folder where the outbox belongs (EISDIR): one line naming the file."""
    cfg = AgentConfig(embedder={"kind": "hashing"}, resilience={"max_attempts": 1}).save(tmp_path / "c.yaml")
    home = tmp_path / "ws"
    (home / "outbox.jsonl").mkdir(parents=True)
    proc = run("ask", "hello", "--tenant", "acme", "--config", str(cfg), home=home, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert f"Is a directory: '{home}/outbox.jsonl'" in proc.stderr


@pytest.mark.parametrize("store", ["state.sqlite", "ledger.sqlite"])
def test_a_corrupt_store_is_named_with_the_fix(tmp_path, store) -> None:
    """A workspace file that is not SQLite printed a traceback ending in "file is not a database", naming no file."""
    cfg = AgentConfig(embedder={"kind": "hashing"}).save(tmp_path / "c.yaml")
    home = tmp_path / "ws"
    home.mkdir()
    (home / store).write_bytes(b"garbage garbage garbage garbage\n")
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(event("hello", event_id="c1")) + "\n")
    proc = run("run-events", str(events), "--config", str(cfg), home=home, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"error: {home / store}: not a readable SQLite store (file is not a database); move it aside" in proc.stderr


def test_main_prints_a_workbench_error_as_one_line_and_lets_a_bug_keep_its_traceback(monkeypatch, capsys) -> None:
    from workbench import cli
    from workbench.errors import ConfigError

    def refuse() -> None:
        raise ConfigError("retrieval.top_k: must be positive (got 0)")

    monkeypatch.setattr(cli, "app", refuse)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2 and capsys.readouterr().err == "error: retrieval.top_k: must be positive (got 0)\n"

    def bug() -> None:
        return {}["missing"]

    monkeypatch.setattr(cli, "app", bug)
    with pytest.raises(KeyError):  # not caught: a bug shows where it happened
        cli.main()
    for builtin in (ValueError("a bare ValueError is a bug too"), RuntimeError("and so is this"), OSError("no file named")):
        monkeypatch.setattr(cli, "app", lambda builtin=builtin: (_ for _ in ()).throw(builtin))
        with pytest.raises(type(builtin)):
            cli.main()


def test_diff_shows_questions_safe_for_a_terminal(tmp_path, squad_subset) -> None:
    """An eval set's text is input: a bidi override or an escape in a question must not reach the terminal raw."""
    from workbench.lab.evalsets import from_squad

    evalset = from_squad(squad_subset, "acme", 2)
    turn = evalset.cases[0].turns[0].model_copy(update={"question": "\x1b[2J\u202eWho won Super Bowl 50?"})
    evalset.cases[0] = evalset.cases[0].model_copy(update={"turns": [turn]})
    path, ids = evalset.save(tmp_path / "e.jsonl"), []
    for top_k in (1, 5):
        cfg = AgentConfig(name=f"k{top_k}", embedder={"kind": "hashing"}, retrieval={"top_k": top_k}).save(tmp_path / "c.yaml")
        args = ("eval", "-c", str(cfg), "--corpus", str(squad_subset), "--evalset", str(path), "--no-traces", "--json")
        ids.append(json.loads(run(*args, home=tmp_path / "ws").stdout)["run_id"])
    shown = run("diff", *ids, home=tmp_path / "ws").stdout
    assert "\\u202eWho won Super Bowl 50?" in shown and "\u202e" not in shown and "\x1b" not in shown
    listed = run("diff", *ids, "--json", home=tmp_path / "ws").stdout
    assert listed.isascii() and json.loads(listed)[0]["question"] == turn.question
