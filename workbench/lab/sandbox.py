"""An agent whose side effects stay in a scratch folder, for evaluations and replays.

Fresh conversation state (one run's history must not leak into another's prompts; a `state` passed in is the
caller's to keep apart, see evaluation/live.py), actions and escalations
written to scratch files instead of real endpoints, and no entry in the decision log.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from workbench.config import AgentConfig
from workbench.loop import Agent
from workbench.workspace import Workspace


@contextmanager
def sandboxed_agent(config: AgentConfig, workspace: Workspace, **parts: Any) -> Iterator[Agent]:
    from workbench.actuators.outbox import OutboxActuator
    from workbench.decisionlog import NoDecisionLog
    from workbench.state.sqlite import SQLiteStateStore

    with tempfile.TemporaryDirectory(dir=workspace.root) as scratch:
        folder = Path(scratch)
        state = parts.pop("state", None) or SQLiteStateStore(folder / "state.sqlite", config.state.ttl_days)
        yield Agent.from_config(
            config,
            workspace,
            state=state,
            actuator=OutboxActuator(folder / "outbox.jsonl"),
            decision_log=NoDecisionLog(),
            escalator=OutboxActuator(folder / "escalations.jsonl"),
            **parts,
        )
