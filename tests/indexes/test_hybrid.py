"""Hybrid retrieval on a real Chroma index: bm25s fusion (local only) and Pinecone's sparse-dense score (exported)."""

import json

import numpy as np
import pytest
from conftest import event, ingested_agent

from workbench.deploy.contents import backend_modules
from workbench.errors import ExportError
from workbench.events import Event
from workbench.indexes.sparse import bm25

DOCS = [
    {
        "id": "statute",
        "text": "Section 230 of the Communications Decency Act shields platforms.",
        "metadata": {"tenant": "law", "kind": "statute"},
    },
    {
        "id": "essay",
        "text": "Online platforms and speech: an essay on moderation and liability.",
        "metadata": {"tenant": "law", "kind": "essay"},
    },
    {"id": "other", "text": "Shields and armour of medieval knights.", "metadata": {"tenant": "law", "kind": "history"}},
    {
        "id": "foreign",
        "text": "Section 230 appears here too, for another tenant.",
        "metadata": {"tenant": "else", "kind": "statute"},
    },
]


MORE = [
    {
        "id": f"filler{i}",
        "text": f"Filler document {i} about platforms, knights and section {i}.",
        "metadata": {"tenant": "law", "kind": "filler", "year": 2000 + i},
    }
    for i in range(12)
]


@pytest.mark.parametrize("method", ["rrf", "weighted"])
def test_keyword_evidence_lifts_the_exact_match(hashing_config, workspace, tmp_path, method) -> None:
    cfg = hashing_config.with_overrides({"retrieval.top_k": 3, "retrieval.hybrid": {"enabled": True, "method": method}})
    agent = ingested_agent(cfg, workspace, tmp_path, DOCS)
    d = agent.handle(Event(**event("Section 230", tenant="law")))
    assert d.hits[0][0] == "statute#c0"
    assert "foreign#c0" not in dict(d.hits)  # the keyword side is tenant-scoped too
    fused = [
        h.metadata["fusion_score"]
        for h in agent.index.query(agent.embedder.embed(["Section 230"])[0], 3, "law", text="Section 230")
    ]
    assert fused == sorted(fused, reverse=True)
    assert not d.declined  # Hit.score stays cosine, so the reasoner's threshold still means what it says


def test_filters_and_exact_keyword_apply_to_both_sides(hashing_config, workspace, tmp_path) -> None:
    cfg = hashing_config.with_overrides({"retrieval.hybrid": {"enabled": True}})
    agent = ingested_agent(cfg, workspace, tmp_path, DOCS)
    d = agent.handle(Event(**event("platforms liability", tenant="law")), filter={"kind": {"$ne": "essay"}})
    assert "essay#c0" not in dict(d.hits)
    d = agent.handle(Event(**event("platforms", tenant="law", user="u2", metadata={"keyword": "moderation"})))
    assert [h for h, _ in d.hits] == ["essay#c0"]


def brute_force(agent, query: str, alpha: float, flt=None) -> list[tuple[str, float]]:
    """Pinecone's sparse-dense score for every chunk of the tenant, the slow obvious way."""
    chroma = agent.index.inner
    docs = [d for d in chroma.documents("law") if flt is None or all(d.metadata.get(k) == v for k, v in flt.items())]
    params = bm25.load(bm25.params_path(chroma.path / "bm25" / chroma.cfg.collection, "law"))
    q = np.asarray(agent.embedder.embed([query])[0], dtype=np.float64)
    sq = bm25.encode_query(params, query)
    vectors = chroma.vectors([d.id for d in docs], "law")
    scored = [
        (
            alpha * float(q @ np.asarray(vectors[d.id], dtype=np.float64))
            + (1 - alpha) * bm25.dot(sq, bm25.encode_document(params, d.text)),
            d.id,
        )
        for d in docs
    ]
    return [(i, round(s, 6)) for s, i in sorted(scored, key=lambda s: (-s[0], s[1]))]


@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.05])
def test_sparse_dense_is_exact_at_any_candidate_depth(hashing_config, workspace, tmp_path, alpha) -> None:
    cfg = hashing_config.with_overrides(
        {"retrieval.top_k": 4, "retrieval.hybrid": {"enabled": True, "method": "sparse_dense", "weight": alpha, "candidates": 1}}
    )
    agent = ingested_agent(cfg, workspace, tmp_path, DOCS + MORE)
    for query, flt in [("Section 230 platforms", None), ("knights shields", {"kind": "filler"}), ("the", None)]:
        expected = brute_force(agent, query, alpha, flt)[:4]
        d = agent.handle(Event(**event(query, tenant="law", user=query)), filter=flt)
        hits = agent.index.query(agent.embedder.embed([query])[0], 4, "law", flt, text=query)
        assert [(h.id, h.metadata["fusion_score"]) for h in hits] == expected
        assert [h for h, _ in d.hits] == [i for i, _ in expected]
        assert all(h.metadata["tenant"] == "law" for h in hits)  # never the other tenant's "Section 230"
        if alpha == 1.0:  # pure vector search: the score is the cosine, as Chroma's own
            chroma = {h.id: h.score for h in agent.index.inner.query(agent.embedder.embed([query])[0], 20, "law", flt)}
            assert all(
                h.metadata["fusion_score"] == pytest.approx(h.score, abs=1e-6) == pytest.approx(chroma[h.id], abs=1e-6)
                for h in hits
            )


def test_sparse_dense_parameters_are_fitted_at_ingest_and_refitted_on_change(hashing_config, workspace, tmp_path) -> None:
    cfg = hashing_config.with_overrides({"retrieval.hybrid": {"enabled": True, "method": "sparse_dense"}})
    agent = ingested_agent(cfg, workspace, tmp_path, DOCS)
    chroma = agent.index.inner
    folder = chroma.path / "bm25" / cfg.index.collection
    law = json.loads((folder / "law.json").read_text())
    assert law["bm25"]["n_docs"] == 3 and json.loads((folder / "else.json").read_text())["bm25"]["n_docs"] == 1
    assert "Snowball" in law["tokenizer"]
    from workbench.ingest.pipeline import ingest

    (tmp_path / "more.jsonl").write_text("\n".join(json.dumps(d) for d in MORE))
    ingest(tmp_path / "more.jsonl", cfg, workspace, embedder=agent.embedder, index=agent.index, progress=False)
    assert json.loads((folder / "law.json").read_text())["bm25"]["n_docs"] == 3 + len(MORE)
    assert agent.index.params("law").n_docs == 3 + len(MORE)  # the query side sees the refit too


def test_sparse_dense_keyword_keeps_only_chunks_containing_it(hashing_config, workspace, tmp_path) -> None:
    cfg = hashing_config.with_overrides({"retrieval.top_k": 2, "retrieval.hybrid": {"enabled": True, "method": "sparse_dense"}})
    agent = ingested_agent(cfg, workspace, tmp_path, DOCS + MORE)
    d = agent.handle(Event(**event("platforms", tenant="law", metadata={"keyword": "moderation"})))
    assert [h for h, _ in d.hits] == ["essay#c0"]


def test_sparse_dense_alpha_zero_is_refused() -> None:
    from workbench.config import AgentConfig
    from workbench.errors import ConfigError

    with pytest.raises(ConfigError, match="all-zero dense vector"):
        AgentConfig.from_dict({"retrieval": {"hybrid": {"method": "sparse_dense", "weight": 0}}})


@pytest.mark.parametrize("method", ["rrf", "weighted"])
def test_export_refuses_local_fusion_and_names_the_exportable_mode(hashing_config, method) -> None:
    cfg = hashing_config.with_overrides({"embedder.kind": "minilm", "retrieval.hybrid": {"enabled": True, "method": method}})
    with pytest.raises(ExportError, match=f"method {method!r}.*sparse_dense"):
        backend_modules(cfg)
    ok = cfg.with_overrides({"retrieval.hybrid.method": "sparse_dense"})
    assert "indexes/hybrid.py" in backend_modules(ok)
