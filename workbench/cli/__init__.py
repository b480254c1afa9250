"""The `workbench` command line, one module per command group. Every command has --help; `--json` output is pure
JSON on stdout; a mistake the user can fix prints one line, not a traceback."""

from __future__ import annotations

import logging
import os
import sys

import typer

from workbench.cli import agent, bus, config, deploy, lab, runs
from workbench.cli.options import MULTILINE, printable
from workbench.errors import FileRefused, WorkbenchError

app = typer.Typer(
    help="Agent Workbench: build, measure and ship event-driven RAG agents.", no_args_is_help=True, pretty_exceptions_enable=False
)
app.add_typer(config.commands, name="config")
for group in (agent, lab, runs, deploy, bus):
    app.add_typer(group.commands)
app.add_typer(bus.dlq, name="dlq")


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every decision with its config_id.")) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s %(config_id)s %(correlation_id)s"
        if verbose
        else "%(levelname)s %(name)s %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_fill_log_fields)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # compare reads a table per run: no bar for each


def _fill_log_fields(record: logging.LogRecord) -> bool:
    """Give every record the fields the verbose format names. A filter on the handler runs after `extra` is
    merged, so a caller's `extra={"config_id": ...}` is kept, never refused as an overwrite."""
    record.__dict__.setdefault("config_id", "-")
    record.__dict__.setdefault("correlation_id", "-")
    return True


def main() -> None:
    """Run the app. A `WorkbenchError` (the user's to fix) is one line on stderr and exit 2; so is the file system's
    refusal of a file it names (read-only, a folder in its place, a full disk). Anything else is a bug: a traceback."""
    try:
        try:
            app()
        except OSError as exc:
            if isinstance(exc, WorkbenchError) or exc.filename is None:
                raise
            hint = (
                "make it writable, or point --home at a writable workspace"
                if isinstance(exc, PermissionError)
                else "check that file, or point --home at a workspace that can be written"
            )
            raise FileRefused(f"{exc}; {hint}") from exc
    except WorkbenchError as exc:
        typer.secho(f"error: {printable(str(exc), keep=MULTILINE)}", fg=typer.colors.RED, err=True)
        sys.exit(2)
