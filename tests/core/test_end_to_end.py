"""The embedded default for real: MiniLM, Chroma, SQLite, the extractive reasoner, on real SQuAD paragraphs."""

import pytest
from conftest import event

from workbench.config import AgentConfig
from workbench.events import Event
from workbench.ingest.pipeline import ingest
from workbench.loop import Agent

pytestmark = pytest.mark.model


def test_the_answer_comes_from_the_known_document_and_cites_it(squad_subset, workspace, minilm) -> None:
    cfg = AgentConfig(name="e2e")
    agent = Agent.from_config(cfg, workspace, embedder=_cached(minilm, workspace))
    report = ingest(squad_subset, cfg, workspace, tenant="acme", embedder=agent.embedder, index=agent.index, progress=False)
    assert report.documents == 24 and report.written == report.chunks

    for question, known, fact in (
        ("Who proved that air is necessary for combustion?", "Oxygen#2#c0", "Robert Boyle"),
        ("The atomic number of the periodic table for oxygen?", "Oxygen#0#c0", "atomic number 8"),
    ):
        d = agent.handle(Event(**event(question)))
        assert known in [hit for hit, _ in d.hits[:3]]
        assert d.citations == (known,)
        assert fact in d.answer
    assert agent.state.load("acme", "user#u1").version == 2


def _cached(model, workspace):
    from workbench.embedders.cache import CachedEmbedder

    return CachedEmbedder(model, workspace.embedding_cache)
