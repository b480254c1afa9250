"""The Chroma index: a collection per tenant (isolation, ids unique per tenant, valid names) and a search_ef that takes effect."""

import json
import math

import numpy as np
import pytest

from workbench.config import IndexConfig
from workbench.indexes.chroma import ChromaIndex
from workbench.indexes.chroma_store import ChromaStore, collection_name
from workbench.ingest.pipeline import ingest
from workbench.loop import Agent


def _ingest(agent, config, workspace, path, tenant, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return ingest(path, config, workspace, tenant=tenant, embedder=agent.embedder, index=agent.index, progress=False)


def test_two_tenants_with_the_same_doc_id_keep_their_own_chunks(hashing_config, workspace, tmp_path) -> None:
    agent = Agent.from_config(hashing_config, workspace)
    alpha = "alpha tenant secret: the launch code is 1234"
    beta = "beta tenant note: lunch is at noon"
    first = _ingest(agent, hashing_config, workspace, tmp_path / "a.jsonl", "tenant-a", [{"id": "a1", "text": alpha}])
    second = _ingest(agent, hashing_config, workspace, tmp_path / "b.jsonl", "tenant-b", [{"id": "a1", "text": beta}])
    assert (first.written, second.written) == (1, 1)  # B's a1 is new to B even though A has an a1

    index = agent.index
    for tenant, own, other in (("tenant-a", alpha, beta), ("tenant-b", beta, alpha)):
        for probe in (own, other):  # even a query for the other tenant's exact text finds only its own chunk
            hits = index.query(agent.embedder.embed([probe])[0], 5, tenant)
            assert [(h.id, h.text, h.metadata["tenant"]) for h in hits] == [("a1#c0", own, tenant)]
        assert [h.text for h in index.documents(tenant)] == [own]
    assert index.tenants() == ["tenant-a", "tenant-b"] and index.count() == 2 and index.count("tenant-a") == 1
    assert index.query(agent.embedder.embed([beta])[0], 1, "nobody") == []

    admin = index.query(agent.embedder.embed([beta])[0], 2, None)  # tenant None: every tenant, best first
    assert [h.metadata["tenant"] for h in admin] == ["tenant-b", "tenant-a"] and admin[0].score > admin[1].score
    again = _ingest(agent, hashing_config, workspace, tmp_path / "a.jsonl", "tenant-a", [{"id": "a1", "text": alpha}])
    assert (again.written, again.unchanged) == (0, 1)  # fingerprints are read from the tenant's own collection


TRICKY = ["a", "A", "a.", "a..b", "a.b", "a-b", "a_b", "1.2.3.4", "-".join(["x"] * 32), "Z" * 64, "acme", "ACME"]


def test_every_valid_tenant_gets_its_own_valid_collection(tmp_path) -> None:
    from chromadb.api.segment import check_index_name

    long_base = "b" * 512  # the longest index.collection the config accepts
    names = {collection_name(base, t) for base in ("workbench", long_base) for t in TRICKY}
    assert len(names) == 2 * len(TRICKY)  # no two (base, tenant) pairs share a collection
    for name in names:
        check_index_name(name)  # Chroma's own rule: 3-63 characters, alphanumeric ends, no '..', not an IPv4

    index = ChromaIndex(tmp_path / "chroma", IndexConfig(collection=long_base))
    vectors = np.eye(len(TRICKY), 8, dtype=np.float32)
    index.upsert(["same"] * len(TRICKY), vectors, TRICKY, [{"tenant": t} for t in TRICKY])
    assert index.tenants() == sorted(TRICKY)
    for i, tenant in enumerate(TRICKY):
        assert [h.text for h in index.query(vectors[i], 3, tenant)] == [tenant]
    with pytest.raises(ValueError, match="lacks the tenant field 'tenant'"):
        index.upsert(["x"], vectors[:1], ["x"], [{"other": 1}])


def test_a_shared_collection_of_the_earlier_layout_moves_to_one_per_tenant(tmp_path) -> None:
    store = ChromaStore.at(tmp_path / "chroma")
    old = store.client.create_collection("workbench", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None)
    old.upsert(
        ids=["x#c0", "y#c0"],
        embeddings=[[1.0, 0.0], [0.0, 1.0]],
        documents=["from a", "from b"],
        metadatas=[{"tenant": "a"}, {"tenant": "b"}],
    )
    index = ChromaIndex(tmp_path / "chroma", IndexConfig())
    assert index.tenants() == ["a", "b"] and index.count() == 2
    assert [h.text for h in index.documents("b")] == ["from b"]
    assert "workbench" not in [c.name for c in store.collections()]


@pytest.fixture(scope="module")
def sparse_graph(tmp_path_factory):
    """2,000 random unit vectors (the hardest case for HNSW) in a thin graph, where a small search_ef misses neighbours."""
    rng = np.random.default_rng(7)
    data = rng.standard_normal((2000, 384)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    queries = data[:20] + 0.5 * rng.standard_normal((20, 384)).astype(np.float32) / np.sqrt(384)
    path = tmp_path_factory.mktemp("graph") / "chroma"
    index = ChromaIndex(path, _thin(10))
    half = [{"tenant": "t", "half": i % 2} for i in range(len(data))]
    index.upsert([str(i) for i in range(len(data))], data, ["t"] * len(data), half)
    return path, data, queries


def _thin(search_ef: int) -> IndexConfig:
    return IndexConfig(hnsw={"max_neighbors": 8, "construction_ef": 20, "search_ef": search_ef})


def _recall(index: ChromaIndex, data: np.ndarray, queries: np.ndarray) -> float:
    exact = np.argsort(-queries @ data.T, axis=1)[:, :10]
    got = [[int(h.id) for h in index.query(q, 10, "t")] for q in queries]
    return float(np.mean([len(set(g) & set(e)) / 10 for g, e in zip(got, exact)]))


def test_a_changed_search_ef_takes_effect_in_the_same_process(sparse_graph) -> None:
    """Chroma keeps a loaded graph's ef_search: without the store's reopen, the second recall would equal the first."""
    path, data, queries = sparse_graph
    narrow = ChromaIndex(path, _thin(10))
    before = _recall(narrow, data, queries)
    after = _recall(ChromaIndex(path, _thin(500)), data, queries)
    back = _recall(ChromaIndex(path, _thin(10)), data, queries)
    assert after >= before + 0.15, (before, after)
    assert back == pytest.approx(before)
    assert narrow.collection("t").configuration["hnsw"]["ef_search"] == 10


def test_ann_recall_compares_the_graph_with_exact_search(sparse_graph) -> None:
    from workbench.lab.scorers.ann import ExactSearch

    path, data, queries = sparse_graph
    for ef in (10, 500):
        index = ChromaIndex(path, _thin(ef))
        exact = ExactSearch(index)
        assert exact.top_k(queries[0], 10, "t") == [str(i) for i in np.argsort(-data @ queries[0])[:10]]
        assert exact.recall(queries[0], 10, "t") == pytest.approx(_recall(index, data, queries[:1]))
        odd = exact.top_k(queries[1], 10, "t", {"half": {"$eq": 1}})
        assert len(odd) == 10 and all(int(i) % 2 == 1 for i in odd)
        assert 0 <= exact.recall(queries[1], 10, "t", {"half": {"$eq": 1}}) <= 1
        # An evaluation hands over the ids its own retrieval got: asked again, the graph answers the same.
        for q in queries:
            found = [h.id for h in index.query(q, 10, "t")]
            assert [h.id for h in index.query(q, 10, "t")] == found
            assert exact.recall(q, 10, "t", found=found) == exact.recall(q, 10, "t")
    assert math.isnan(exact.recall(queries[0], 10, "t", {"half": {"$eq": 7}}))  # nothing matches: no recall to speak of
    assert exact.top_k(queries[0], 5, "nobody") == []
