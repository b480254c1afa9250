"""Where generated state lives: one git-ignored folder (default `.workbench/`, or $WORKBENCH_HOME)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def default(cls) -> "Workspace":
        return cls(Path(os.environ.get("WORKBENCH_HOME", ".workbench")))

    def _path(self, name: str) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root / name

    @property
    def chroma_dir(self) -> Path:
        return self._path("chroma")

    @property
    def state_db(self) -> Path:
        return self._path("state.sqlite")

    @property
    def embedding_cache(self) -> Path:
        return self._path("embeddings.sqlite")

    @property
    def judge_cache(self) -> Path:
        return self._path("judge_cache.sqlite")

    @property
    def outbox(self) -> Path:
        return self._path("outbox.jsonl")

    @property
    def deadletter(self) -> Path:
        return self._path("deadletter.jsonl")

    @property
    def mlflow_db(self) -> Path:
        return self._path("mlflow.db")

    @property
    def mlflow_artifacts(self) -> Path:
        return self._path("mlartifacts")

    @property
    def bus(self) -> Path:
        return self._path("bus.sqlite")

    @property
    def idempotency(self) -> Path:
        return self._path("idempotency.sqlite")

    @property
    def ledger(self) -> Path:
        return self._path("ledger.sqlite")

    @property
    def decisions(self) -> Path:
        return self._path("decisions.jsonl")
