"""The local bus: `publish` events onto it, drain it with `worker`, and see or re-queue its dead letters (`dlq`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from workbench.cli.agent import local_delivery
from workbench.cli.options import ConfigOpt, HomeOpt, load_config, open_workspace, printable_json
from workbench.errors import UsageError

commands = typer.Typer()
dlq = typer.Typer(help="Show or re-queue dead letters of the local bus.", no_args_is_help=True)


@commands.command()
def publish(
    file: Path = typer.Argument(..., help="JSONL: one event or SNS/SQS envelope per line."), home: Optional[Path] = HomeOpt
) -> None:
    """Put every line of FILE on the local bus, as is (validation happens in the worker)."""
    from workbench.serve.bus import LocalBus

    if not file.is_file():
        raise UsageError(f"{file}: no such events file")
    bus = LocalBus(open_workspace(home).bus)
    lines = [line for line in file.read_bytes().splitlines() if line.strip()]
    for line in lines:
        bus.publish(line)
    typer.echo(f"published {len(lines)} messages; queue: {bus.counts()}")


@commands.command()
def worker(
    config: Optional[Path] = ConfigOpt,
    home: Optional[Path] = HomeOpt,
    concurrency: int = typer.Option(1, "--concurrency", "-n", min=1, max=64, help="Worker threads."),
    visibility_timeout: float = typer.Option(
        30.0, min=1, max=43200, help="Seconds a received message stays invisible (a heartbeat extends it while it is handled)."
    ),
    max_receives: int = typer.Option(5, min=1, max=1000, help="Receives before a message goes to the DLQ."),
    follow: bool = typer.Option(False, "--follow", help="Keep polling when the queue is empty (Ctrl-C stops)."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as one JSON object."),
) -> None:
    """Consume the local bus: each event handled once; failures retried, bad input dead-lettered."""
    from workbench.serve.bus import LocalBus
    from workbench.serve.worker import Worker

    ws = open_workspace(home)
    bus = LocalBus(ws.bus, max_receives=max_receives)
    w = Worker(local_delivery(load_config(config), ws), bus, visibility_timeout=visibility_timeout)
    stats = w.run(concurrency, until_empty=not follow)
    counts = {k: getattr(stats, k) for k in ("processed", "duplicates", "dead_lettered", "retried", "crashed")}
    if as_json:
        typer.echo(json.dumps({**counts, "queue": bus.counts()}))
    else:
        typer.echo(
            f"processed {stats.processed}, duplicates {stats.duplicates}, dead-lettered {stats.dead_lettered}, "
            f"retried {stats.retried}; queue: {bus.counts()}"
        )
    if stats.crashed:  # exit 1, not 2: not the user's mistake, but its supervisor must see it and restart it
        typer.secho(
            f"error: {stats.crashed} worker thread(s) died (see the log above); the worker stopped", fg=typer.colors.RED, err=True
        )
        raise typer.Exit(1)


@dlq.command("list")
def dlq_list(home: Optional[Path] = HomeOpt) -> None:
    """Dead letters with the reason each was rejected."""
    from workbench.serve.bus import LocalBus

    for letter in LocalBus(open_workspace(home).bus).dead_letters():
        typer.echo(printable_json(letter))


@dlq.command("redrive")
def dlq_redrive(
    ids: Optional[list[str]] = typer.Argument(None, help="Message ids (default: all)."), home: Optional[Path] = HomeOpt
) -> None:
    """Put dead letters back on the queue with a fresh receive count."""
    from workbench.serve.bus import LocalBus

    bus = LocalBus(open_workspace(home).bus)
    missing = sorted(set(ids) - {letter["id"] for letter in bus.dead_letters()}) if ids else []
    if missing:  # checked before anything moves: a typo must not pass for a redrive
        raise UsageError(f"no dead letter with id {', '.join(missing)}; `workbench dlq list` shows them")
    typer.echo(f"re-queued {bus.redrive(ids or None)} messages")
