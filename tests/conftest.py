"""Shared fixtures: real components, small data. The real MiniLM model loads once per test process."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from workbench.config import AgentConfig
from workbench.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT / "datasets" / "squad-v1.1-dev-24" / "dev-v1.1-first24.json"


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


@pytest.fixture
def hashing_config() -> AgentConfig:
    """The default pipeline with the test-only hashing embedder: fast, deterministic, no semantics."""
    return AgentConfig(name="unit", embedder={"kind": "hashing"})


@pytest.fixture(scope="session")
def minilm():
    from workbench.embedders.minilm import MiniLMEmbedder

    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def squad_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real SQuAD articles (Super Bowl 50 and Oxygen's first paragraphs), written as a SQuAD file."""
    data = json.loads(SQUAD.read_text())
    keep = [a for a in data["data"] if a["title"] in ("Super_Bowl_50", "Oxygen")]
    for article in keep:
        article["paragraphs"] = article["paragraphs"][:12]
    path = tmp_path_factory.mktemp("squad") / "subset.json"
    path.write_text(json.dumps({"version": "1.1", "data": keep}))
    return path


def event(text: str, user: str = "u1", tenant: str = "acme", event_id: str | None = None, **extra) -> dict:
    """A raw event payload; the id defaults to a hash of its content."""
    digest = hashlib.sha256(f"{tenant}/{user}/{text}".encode()).hexdigest()[:12]
    return {"event_id": event_id or f"e-{digest}", "tenant": tenant, "user_id": user, "text": text, **extra}


EMBEDDED_TEXTS: list[str] = []


def build_counting_embedder(ctx):
    """Registry factory for tests: the hashing embedder, recording every text the model is asked to embed."""
    from workbench.embedders.hashing import HashingEmbedder

    class Counting(HashingEmbedder):
        def embed(self, texts):
            EMBEDDED_TEXTS.extend(texts)
            return super().embed(texts)

    return Counting(ctx.config.embedder.dimension)
