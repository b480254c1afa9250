"""What every command group shares: the common options, and how they become a config and a workspace."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

import typer

from workbench.config import AgentConfig
from workbench.workspace import Workspace

DEMO_CORPUS = Path("datasets/squad-v1.1-dev-24/dev-v1.1-first24.json")
DEMO_EVENTS = Path("datasets/demo/events.jsonl")

ConfigOpt = typer.Option(None, "--config", "-c", help="Pipeline config YAML (default: the embedded default).")
HomeOpt = typer.Option(
    None, "--home", help="Workspace folder for indexes, state and caches (default: $WORKBENCH_HOME or .workbench)."
)
TrackingOpt = typer.Option(
    None, "--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or the local store in the workspace)."
)
ExperimentOpt = typer.Option("agent-workbench", "--experiment", help="MLflow experiment name.")


# Terminal controls (C0, DEL, C1: an ANSI escape starts with ESC or CSI), line separators and bidirectional overrides.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
MULTILINE = "\n"  # an error message may list several fields, one a line


def printable(text: str, keep: str = "") -> str:
    """Text from input (a reason, an error message), safe for a terminal: a lone surrogate, which stdout cannot
    encode, and control characters (but those in `keep`) are shown as backslash escapes, so input can neither crash
    the print nor rewrite the screen."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROLS.sub(lambda m: m.group() if m.group() in keep else m.group().encode("unicode_escape").decode("ascii"), text)


def printable_json(value: Any) -> str:
    """One JSON line whose strings came from input: still JSON, with the controls json.dumps leaves raw escaped."""
    text = json.dumps(value, ensure_ascii=False).encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def load_config(config: Optional[Path]) -> AgentConfig:
    return AgentConfig.from_yaml(config) if config else AgentConfig()


def open_workspace(home: Optional[Path]) -> Workspace:
    return Workspace(home) if home else Workspace.default()
