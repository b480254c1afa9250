"""The `workbench` command line. Every command has --help; user mistakes print a fix, not a traceback."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from pathlib import Path
from typing import Any, Optional

import typer

from workbench.config import AgentConfig
from workbench.workspace import Workspace

app = typer.Typer(help="Agent Workbench: build, measure and ship event-driven RAG agents.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
config_app = typer.Typer(help="Show or validate a pipeline configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

DEMO_CORPUS = Path("datasets/squad-v1.1-dev-24/dev-v1.1-first24.json")
DEMO_EVENTS = Path("datasets/demo/events.jsonl")

ConfigOpt = typer.Option(None, "--config", "-c", help="Pipeline config YAML (default: the embedded default).")
HomeOpt = typer.Option(None, "--home", help="Workspace folder for indexes, state and caches (default: $WORKBENCH_HOME or .workbench).")


class UserError(Exception):
    """A mistake in what the user asked for; printed as one message with the fix."""


def _load(config: Optional[Path]) -> AgentConfig:
    return AgentConfig.from_yaml(config) if config else AgentConfig()


def _workspace(home: Optional[Path]) -> Workspace:
    return Workspace(home) if home else Workspace.default()


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every decision with its config_id.")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s %(config_id)s %(correlation_id)s"
                        if verbose else "%(levelname)s %(name)s %(message)s")
    if verbose:
        old = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = old(*args, **kwargs)
            record.__dict__.setdefault("config_id", "-")
            record.__dict__.setdefault("correlation_id", "-")
            return record

        logging.setLogRecordFactory(factory)


@config_app.command("show")
def config_show(config: Optional[Path] = ConfigOpt) -> None:
    """Print the full configuration as YAML, defaults included, with its config_id."""
    cfg = _load(config)
    typer.echo(f"# config_id: {cfg.config_id}\n{cfg.to_yaml()}", nl=False)


@config_app.command("validate")
def config_validate(path: Path = typer.Argument(..., help="Config YAML to check.")) -> None:
    """Check a config file; errors name the field and the bad value."""
    cfg = AgentConfig.from_yaml(path)
    typer.echo(f"{path}: valid (name={cfg.name}, config_id={cfg.config_id})")


@app.command()
def ingest(corpus: Path = typer.Argument(DEMO_CORPUS, help="JSONL, BEIR corpus.jsonl, CSV, SQuAD .json or a folder of .md/.txt."),
           config: Optional[Path] = ConfigOpt, home: Optional[Path] = HomeOpt,
           tenant: Optional[str] = typer.Option(None, help="Tenant for documents that carry none in their metadata."),
           limit: Optional[int] = typer.Option(None, help="Ingest only the first N documents.")) -> None:
    """Chunk, embed (cached) and index a corpus."""
    from workbench.ingest.pipeline import ingest as run_ingest

    report = run_ingest(corpus, _load(config), _workspace(home), tenant=tenant, limit=limit)
    typer.echo(json.dumps(report.as_dict()))


@app.command()
def ask(question: str = typer.Argument(..., help="The user's message."),
        tenant: str = typer.Option(..., help="Tenant whose documents may be retrieved."),
        user: str = typer.Option("cli-user", help="User whose conversation state is used."),
        filter: Optional[str] = typer.Option(None, help='Extra metadata filter, Pinecone syntax, e.g. \'{"article": "Oxygen"}\'.'),
        config: Optional[Path] = ConfigOpt, home: Optional[Path] = HomeOpt,
        as_json: bool = typer.Option(False, "--json", help="Print the whole decision record as JSON.")) -> None:
    """Send one event through the loop and print the decision."""
    from workbench.events import parse_payload
    from workbench.loop import Agent

    try:
        flt = json.loads(filter) if filter else None
    except json.JSONDecodeError as exc:
        raise UserError(f"--filter is not valid JSON: {exc.msg}") from None
    parsed = parse_payload({"event_id": f"cli-{uuid.uuid4().hex}", "tenant": tenant, "user_id": user, "text": question})[0]
    if parsed.error:
        raise UserError(parsed.error)
    event = parsed.event
    decision = Agent.from_config(_load(config), _workspace(home)).handle(event, filter=flt)
    _print_decisions([decision], as_json)


@app.command("run-events")
def run_events(file: Path = typer.Argument(..., help="JSONL: one event or SNS/SQS envelope per line."),
               config: Optional[Path] = ConfigOpt, home: Optional[Path] = HomeOpt,
               as_json: bool = typer.Option(False, "--json", help="Print every decision as JSON.")) -> None:
    """Run a file of events; bad ones go to the dead-letter file with the reason."""
    summary = _run_file(file, _load(config), _workspace(home))
    _print_decisions(summary.decisions, as_json)
    _print_summary(summary, _workspace(home))


@app.command()
def demo(home: Optional[Path] = HomeOpt, config: Optional[Path] = ConfigOpt,
         limit: Optional[int] = typer.Option(None, help="Ingest only the first N documents of the bundled SQuAD corpus.")) -> None:
    """Ingest the bundled SQuAD sample and answer the demo events, on the embedded default."""
    from workbench.ingest.pipeline import ingest as run_ingest
    from workbench.loop import Agent

    cfg, ws = _load(config), _workspace(home)
    agent = Agent.from_config(cfg, ws)
    report = run_ingest(DEMO_CORPUS, cfg, ws, tenant="acme", embedder=agent.embedder, index=agent.index, limit=limit)
    typer.echo(f"config {cfg.name} ({cfg.config_id}); ingested {report.documents} documents, "
               f"{report.written} chunks written, {report.unchanged} unchanged, in {report.seconds:.1f}s")
    summary = _run_file(DEMO_EVENTS, cfg, ws, agent)
    _print_decisions(summary.decisions, as_json=False)
    _print_summary(summary, ws)


def _run_file(file: Path, cfg: AgentConfig, ws: Workspace, agent: Any = None):  # noqa: ANN202
    from workbench.deadletter import DeadLetterFile
    from workbench.loop import Agent
    from workbench.runner import run_payloads

    if not file.is_file():
        raise UserError(f"{file}: no such events file")
    lines = [line for line in file.read_bytes().splitlines() if line.strip()]
    agent = agent or Agent.from_config(cfg, ws)
    return run_payloads(agent, lines, DeadLetterFile(ws.deadletter), progress=True, total=len(lines))


def _print_decisions(decisions: list, as_json: bool) -> None:
    if as_json:
        for d in decisions:
            typer.echo(json.dumps(d.to_dict(), ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("user", "question", "answer", "cited", "top hit", "ms", show_lines=True)
    for d in decisions:
        top = f"{d.hits[0][0]} ({d.hits[0][1]:.2f})" if d.hits else "-"
        table.add_row(d.user_id, d.question, d.answer, ", ".join(d.citations), top, f"{d.latency_ms['total']:.0f}")
    Console(width=160).print(table)


def _print_summary(summary: Any, ws: Workspace) -> None:
    typer.echo(f"processed {summary.processed}, rejected {summary.rejected}"
               + (f" (dead letters in {ws.deadletter})" if summary.rejected else ""))
    for reason in summary.reasons:
        typer.echo(f"  rejected: {reason}")


def main() -> None:
    try:
        app()
    except (UserError, ValueError) as exc:  # ConfigError, CorpusError and FilterError are ValueErrors
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
