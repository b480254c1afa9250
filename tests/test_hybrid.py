"""Hybrid retrieval: BM25 (bm25s) fused with vectors, on a real Chroma index; exact keywords; export refuses it."""


import pytest
from conftest import event, ingested_agent

from workbench.events import Event
from workbench.export.bundle import ExportError, backend_modules

DOCS = [
    {"id": "statute", "text": "Section 230 of the Communications Decency Act shields platforms.", "metadata": {"tenant": "law", "kind": "statute"}},
    {"id": "essay", "text": "Online platforms and speech: an essay on moderation and liability.", "metadata": {"tenant": "law", "kind": "essay"}},
    {"id": "other", "text": "Shields and armour of medieval knights.", "metadata": {"tenant": "law", "kind": "history"}},
    {"id": "foreign", "text": "Section 230 appears here too, for another tenant.", "metadata": {"tenant": "else", "kind": "statute"}},
]




@pytest.mark.parametrize("method", ["rrf", "weighted"])
def test_keyword_evidence_lifts_the_exact_match(hashing_config, workspace, tmp_path, method) -> None:
    cfg = hashing_config.with_overrides({"retrieval.top_k": 3, "retrieval.hybrid": {"enabled": True, "method": method}})
    agent = ingested_agent(cfg, workspace, tmp_path, DOCS)
    d = agent.handle(Event(**event("Section 230", tenant="law")))
    assert d.hits[0][0] == "statute#c0"
    assert "foreign#c0" not in dict(d.hits)  # the keyword side is tenant-scoped too
    fused = [h.metadata["fusion_score"] for h in agent.index.query(agent.embedder.embed(["Section 230"])[0], 3, "law",
                                                                     text="Section 230")]
    assert fused == sorted(fused, reverse=True)
    assert not d.declined  # Hit.score stays cosine, so the reasoner's threshold still means what it says


def test_filters_and_exact_keyword_apply_to_both_sides(hashing_config, workspace, tmp_path) -> None:
    cfg = hashing_config.with_overrides({"retrieval.hybrid": {"enabled": True}})
    agent = ingested_agent(cfg, workspace, tmp_path, DOCS)
    d = agent.handle(Event(**event("platforms liability", tenant="law")), filter={"kind": {"$ne": "essay"}})
    assert "essay#c0" not in dict(d.hits)
    d = agent.handle(Event(**event("platforms", tenant="law", user="u2", metadata={"keyword": "moderation"})))
    assert [h for h, _ in d.hits] == ["essay#c0"]


def test_export_refuses_hybrid(hashing_config) -> None:
    cfg = hashing_config.with_overrides({"embedder.kind": "minilm", "retrieval.hybrid.enabled": True})
    with pytest.raises(ExportError, match="sparse-dense"):
        backend_modules(cfg)
