"""Backends by kind, imported only when chosen.

Each family maps a kind to "module:factory". A factory takes a `BuildContext` and returns the
stage. The core never imports a backend; adding one is a module plus one line here (or a call
to `register` from a plugin).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from workbench.config import AgentConfig
    from workbench.workspace import Workspace

_BACKENDS: dict[str, dict[str, str]] = {
    "embedder": {
        "minilm": "workbench.embedders.minilm:build",
        "hashing": "workbench.embedders.hashing:build",
    },
    "index": {
        "chroma": "workbench.indexes.chroma:build",
        "pinecone": "workbench.indexes.pinecone:build",
    },
    "state": {
        "sqlite": "workbench.state.sqlite:build",
        "dynamodb": "workbench.state.dynamodb:build",
    },
    "reasoner": {
        "extractive": "workbench.reasoners.extractive:build",
        "langchain": "workbench.reasoners.langchain_chat:build",
    },
    "actuator": {
        "outbox": "workbench.actuators.outbox:build",
        "http": "workbench.actuators.http:build_http",
        "slack": "workbench.actuators.http:build_slack",
    },
    "log": {
        "jsonl": "workbench.decisionlog.jsonl:build",
        "none": "workbench.decisionlog:build_none",
    },
}


def kinds(family: str) -> list[str]:
    return sorted(_BACKENDS[family])


def check_kind(family: str, kind: str) -> str:
    if kind not in _BACKENDS[family]:
        raise ValueError(f"unknown {family} kind {kind!r}; choose one of: {', '.join(kinds(family))}")
    return kind


def register(family: str, kind: str, target: str) -> None:
    """Add a backend, e.g. register("index", "qdrant", "my_pkg.qdrant:build")."""
    _BACKENDS.setdefault(family, {})[kind] = target


def factory(family: str, kind: str) -> Callable[..., Any]:
    module_name, _, attr = _BACKENDS[family][check_kind(family, kind)].partition(":")
    return getattr(importlib.import_module(module_name), attr)


@dataclass
class BuildContext:
    """What a factory may use: the whole config, where to keep files, and the embedder already built."""

    config: "AgentConfig"
    workspace: "Workspace"
    embedder: Any = None


def build(family: str, kind: str, ctx: BuildContext) -> Any:
    return factory(family, kind)(ctx)
