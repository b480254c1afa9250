"""`workbench config show|validate`: the full configuration with its config_id, or a check of a file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from workbench.cli.options import ConfigOpt, load_config
from workbench.config import AgentConfig

commands = typer.Typer(help="Show or validate a pipeline configuration.", no_args_is_help=True)


@commands.command("show")
def config_show(config: Optional[Path] = ConfigOpt) -> None:
    """Print the full configuration as YAML, defaults included, with its config_id."""
    cfg = load_config(config)
    typer.echo(f"# config_id: {cfg.config_id}\n{cfg.to_yaml()}", nl=False)


@commands.command("validate")
def config_validate(path: Path = typer.Argument(..., help="Config YAML to check.")) -> None:
    """Check a config file; errors name the field and the bad value."""
    cfg = AgentConfig.from_yaml(path)
    typer.echo(f"{path}: valid (name={cfg.name}, config_id={cfg.config_id})")
