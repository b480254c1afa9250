"""The agent on this machine: `ingest` a corpus, `ask` a question, `run-events` from a file, the `demo`; and
the helpers the bus commands share (the local delivery core, how decisions and tallies print)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, Optional

import typer

from workbench.cli.options import DEMO_CORPUS, DEMO_EVENTS, ConfigOpt, HomeOpt, load_config, open_workspace, printable
from workbench.config import AgentConfig
from workbench.errors import UsageError
from workbench.workspace import Workspace

commands = typer.Typer()


@commands.command()
def ingest(
    corpus: Path = typer.Argument(DEMO_CORPUS, help="JSONL, BEIR corpus.jsonl, CSV, SQuAD .json or a folder of .md/.txt."),
    config: Optional[Path] = ConfigOpt,
    home: Optional[Path] = HomeOpt,
    tenant: Optional[str] = typer.Option(None, help="Tenant for documents that carry none in their metadata."),
    limit: Optional[int] = typer.Option(None, help="Ingest only the first N documents."),
) -> None:
    """Chunk, embed (cached) and index a corpus."""
    from workbench.ingest.pipeline import ingest as run_ingest

    report = run_ingest(corpus, load_config(config), open_workspace(home), tenant=tenant, limit=limit)
    typer.echo(json.dumps(report.as_dict()))


@commands.command()
def ask(
    question: str = typer.Argument(..., help="The user's message."),
    tenant: str = typer.Option(..., help="Tenant whose documents may be retrieved."),
    user: str = typer.Option("cli-user", help="User whose conversation state is used."),
    filter: Optional[str] = typer.Option(None, help='Extra metadata filter, Pinecone syntax, e.g. \'{"article": "Oxygen"}\'.'),
    config: Optional[Path] = ConfigOpt,
    home: Optional[Path] = HomeOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the whole decision record as JSON."),
) -> None:
    """Send one event through the loop and print the decision."""
    from workbench.events import parse_payload
    from workbench.loop import Agent

    try:
        flt = json.loads(filter) if filter else None
    except json.JSONDecodeError as exc:
        raise UsageError(f"--filter is not valid JSON: {exc.msg}") from None
    parsed = parse_payload({"event_id": f"cli-{uuid.uuid4().hex}", "tenant": tenant, "user_id": user, "text": question})[0]
    if parsed.error:
        raise UsageError(parsed.error)
    event = parsed.event
    decision = Agent.from_config(load_config(config), open_workspace(home)).handle(event, filter=flt)
    print_decisions([decision], as_json)


@commands.command("run-events")
def run_events(
    file: Path = typer.Argument(..., help="JSONL: one event or SNS/SQS envelope per line."),
    config: Optional[Path] = ConfigOpt,
    home: Optional[Path] = HomeOpt,
    as_json: bool = typer.Option(False, "--json", help="Print every decision as JSON."),
) -> None:
    """Run a file of events; bad ones go to the dead-letter file with the reason."""
    summary = run_file(file, load_config(config), open_workspace(home))
    print_decisions(summary.decisions, as_json, summary.repeats)
    print_summary(summary, open_workspace(home), err=as_json)


@commands.command()
def demo(
    home: Optional[Path] = HomeOpt,
    config: Optional[Path] = ConfigOpt,
    limit: Optional[int] = typer.Option(None, help="Ingest only the first N documents of the bundled SQuAD corpus."),
) -> None:
    """Ingest the bundled SQuAD sample and answer the demo events, on the embedded default."""
    from workbench.ingest.pipeline import ingest as run_ingest
    from workbench.loop import Agent

    cfg, ws = load_config(config), open_workspace(home)
    agent = Agent.from_config(cfg, ws)
    report = run_ingest(DEMO_CORPUS, cfg, ws, tenant="acme", embedder=agent.embedder, index=agent.index, limit=limit)
    typer.echo(
        f"config {cfg.name} ({cfg.config_id}); ingested {report.documents} documents, "
        f"{report.written} chunks written, {report.unchanged} unchanged, in {report.seconds:.1f}s"
    )
    summary = run_file(DEMO_EVENTS, cfg, ws, agent)
    print_decisions(summary.decisions, False, summary.repeats)
    print_summary(summary, ws)


def run_file(file: Path, cfg: AgentConfig, ws: Workspace, agent: Any = None) -> Any:
    from workbench.serve.deadletter import DeadLetterFile
    from workbench.serve.file_runner import run_payloads

    if not file.is_file():
        raise UsageError(f"{file}: no such events file")
    lines = [(f"{file}:{n}", line) for n, line in enumerate(file.read_bytes().splitlines(), 1) if line.strip()]
    delivery = local_delivery(cfg, ws, agent)
    return run_payloads(
        delivery,
        lines,
        DeadLetterFile(ws.deadletter, cfg.privacy.redact),
        budget_s=cfg.deploy.timeout_s,
        progress=True,
        total=len(lines),
    )


def local_delivery(cfg: AgentConfig, ws: Workspace, agent: Any = None) -> Any:
    """The delivery core over the workspace's idempotency records and ledger."""
    from workbench.loop import Agent
    from workbench.serve.delivery import Delivery
    from workbench.serve.idempotency import SQLitePersistenceLayer
    from workbench.serve.ledger import SQLiteLedger

    return Delivery(agent or Agent.from_config(cfg, ws), SQLitePersistenceLayer(ws.idempotency), SQLiteLedger(ws.ledger))


def print_decisions(decisions: list, as_json: bool, repeats: list[bool] | None = None) -> None:
    """`repeats`: which decisions were found, not made, this run (a duplicate event): `"duplicate"` in JSON."""
    repeats = repeats or [False] * len(decisions)
    if as_json:
        for d, repeat in zip(decisions, repeats):
            typer.echo(json.dumps({**d.to_dict(), "duplicate": repeat}, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("user", "question", "answer", "cited", "top hit", "ms", show_lines=True)
    for d, repeat in zip(decisions, repeats):
        top = f"{d.hits[0][0]} ({d.hits[0][1]:.2f})" if d.hits else "-"
        ms = "repeat" if repeat else f"{d.latency_ms['total']:.0f}"
        table.add_row(d.user_id, d.question, d.answer, ", ".join(d.citations), top, ms)
    Console(width=160).print(table)


def print_summary(summary: Any, ws: Workspace, err: bool = False) -> None:
    """The tally of a run; on stderr when stdout carries JSON."""
    typer.echo(
        f"processed {summary.processed}, duplicates {summary.duplicates}, rejected {summary.rejected}"
        + (f" (dead letters in {ws.deadletter})" if summary.rejected else ""),
        err=err,
    )
    for reason in summary.reasons:
        typer.echo(f"  rejected: {printable(reason)}", err=err)
