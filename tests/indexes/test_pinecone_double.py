"""The Pinecone double's documented contract, through the real `pinecone` SDK, every filter operator meaning the
same on Chroma and on the double (the exported index), and the Lambda's read client (`pinecone_reads`, no SDK)
asking exactly what the SDK asks."""

import numpy as np
import pytest
from pinecone_double import PineconeDouble, self_signed

from workbench.config import IndexConfig
from workbench.indexes.chroma import ChromaIndex
from workbench.indexes.pinecone import PineconeIndex, connect
from workbench.indexes.pinecone_reads import API_VERSION, PineconeHTTPError, ReadClient

DOCS = [
    ("a", {"tenant": "t", "kind": "faq", "year": 2020, "score": 0.5, "public": True}),
    ("b", {"tenant": "t", "kind": "manual", "year": 2022, "score": 0.9, "public": False}),
    ("c", {"tenant": "t", "kind": "faq", "year": 2024, "score": 0.1}),
    ("d", {"tenant": "t", "kind": "blog", "year": 2019, "public": True}),
    ("e", {"tenant": "t", "year": 2023, "score": 0.7, "public": False}),
]  # no kind
FILTERS = [
    {"kind": "faq"},
    {"kind": {"$eq": "faq"}},
    {"kind": {"$ne": "faq"}, "year": {"$ne": 2023}},
    {"kind": {"$in": ["faq", "blog"]}},
    {"kind": {"$nin": ["faq"]}, "year": {"$lt": 2023}},
    {"year": {"$gt": 2020}},
    {"year": {"$gte": 2020}},
    {"year": {"$lt": 2022}},
    {"year": {"$lte": 2022}},
    {"score": {"$gte": 0.5, "$lt": 0.9}},
    {"public": True},
    {"public": {"$ne": True}, "score": {"$gt": 0.5}},
    {"$and": [{"kind": "faq"}, {"year": {"$gt": 2021}}]},
    {"$or": [{"kind": "blog"}, {"score": {"$gt": 0.8}}]},
    {"$or": [{"$and": [{"kind": "faq"}, {"public": True}]}, {"year": {"$in": [2023, 2019]}}]},
    {"kind": "faq", "year": {"$lt": 2021}},
]


def vectors(n: int, dim: int = 8) -> np.ndarray:
    rng = np.random.default_rng(7)
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def double():
    d = PineconeDouble(8, metric="dotproduct")
    yield d
    d.close()


def test_every_filter_operator_means_the_same_on_chroma_and_the_double(tmp_path, double) -> None:
    chroma = ChromaIndex(tmp_path / "chroma", IndexConfig(collection="filters"))
    pinecone = PineconeIndex(connect(double.host, "pc-test-key"))
    reads = PineconeIndex(ReadClient(double.host, "pc-test-key"))  # what the Lambda queries with
    ids, metas = [i for i, _ in DOCS], [m for _, m in DOCS]
    vecs = vectors(len(DOCS))
    for index in (chroma, pinecone):
        index.upsert(ids, vecs, [f"text {i}" for i in ids], metas)
    q = vectors(1)[0]
    for flt in FILTERS:
        local = chroma.query(q, 10, "t", flt)
        remote = pinecone.query(q, 10, "t", flt)
        assert [h.id for h in local] == [h.id for h in remote], flt
        assert [h.score for h in local] == pytest.approx([h.score for h in remote], abs=1e-5)
        assert reads.query(q, 10, "t", flt) == remote, flt  # the same hits, scores, texts and metadata
    assert reads.count() == pinecone.count() == len(DOCS) and reads.count("t") == len(DOCS) and reads.count("none") == 0
    assert {h.id for h in chroma.query(q, 10, "t", {"score": {"$gte": 0}})} == {"a", "b", "c", "e"}  # missing field: no match
    # Known divergence, kept visible: $ne / $nin on a field a record lacks. Chroma matches such records; the
    # workbench's evaluator (and so the double) never matches a missing field. Which one real Pinecone follows
    # is not stated in its docs; until it is settled, give every chunk the fields that such filters name.
    for flt in ({"kind": {"$ne": "faq"}}, {"kind": {"$nin": ["faq"]}}):
        assert "e" in {h.id for h in chroma.query(q, 10, "t", flt)} and "e" not in {h.id for h in pinecone.query(q, 10, "t", flt)}


def test_sparse_dense_score_is_the_sum_of_both_dot_products(double) -> None:
    index = connect(double.host, "pc-test-key")
    dense = vectors(2)
    index.upsert(
        vectors=[
            {"id": "x", "values": dense[0].tolist(), "sparse_values": {"indices": [1, 5], "values": [0.5, 2.0]}},
            {"id": "y", "values": dense[1].tolist()},
        ],
        namespace="t",
    )
    q = vectors(3)[2].tolist()
    res = index.query(
        vector=q, sparse_vector={"indices": [5, 9], "values": [0.25, 1.0]}, top_k=2, namespace="t", include_values=True
    )
    scores = {m.id: m.score for m in res.matches}
    assert scores["x"] == pytest.approx(float(np.dot(q, dense[0])) + 0.25 * 2.0, abs=1e-6)
    assert scores["y"] == pytest.approx(float(np.dot(q, dense[1])), abs=1e-6)  # no sparse values: dense only


def test_the_double_enforces_pinecones_documented_limits(double) -> None:
    from pinecone.exceptions import PineconeApiException

    with pytest.raises(Exception, match="Invalid API Key") as wrong_key:
        connect(double.host, "wrong-key").describe_index_stats()
    assert "Unauthorized" in type(wrong_key.value).__name__
    index = connect(double.host, "pc-test-key")
    v = vectors(1)[0].tolist()
    too_many = {"indices": list(range(1001)), "values": [1.0] * 1001}
    with pytest.raises(PineconeApiException, match="exceeds the maximum size of 1000"):
        index.upsert(vectors=[{"id": "s", "values": v, "sparse_values": too_many}], namespace="t")
    with pytest.raises(PineconeApiException, match="exceeds the limit of 40960 bytes"):
        index.upsert(vectors=[{"id": "m", "values": v, "metadata": {"text": "x" * 41000}}], namespace="t")
    index.upsert(vectors=[{"id": "ok", "values": v, "metadata": {"text": "x" * 40000}}])
    stats = index.describe_index_stats()
    assert stats.namespaces["__default__"].vector_count == 1  # no namespace is the `__default__` namespace
    assert [m.id for m in index.query(vector=v, top_k=1, namespace="__default__").matches] == ["ok"]
    cosine = PineconeDouble(8, metric="cosine")
    try:
        with pytest.raises(PineconeApiException, match="need dotproduct"):
            connect(cosine.host, "pc-test-key").query(vector=v, sparse_vector={"indices": [1], "values": [1.0]}, top_k=1)
    finally:
        cosine.close()


def test_the_read_client_sends_what_the_sdk_sends_and_reads_what_it_reads(double) -> None:
    """Dense with a filter, and sparse-dense with values: the same route, API version and body from both clients
    (so the double's checks of the SDK's requests hold for the Lambda's), the same matches back."""
    sdk, reads = connect(double.host, "pc-test-key"), ReadClient(double.host, "pc-test-key")
    dense = vectors(3)
    sdk.upsert(
        vectors=[
            {
                "id": "x",
                "values": dense[0].tolist(),
                "metadata": {"tenant": "t", "kind": "faq"},
                "sparse_values": {"indices": [1, 5], "values": [0.5, 2.0]},
            },
            {"id": "y", "values": dense[1].tolist(), "metadata": {"tenant": "t", "kind": "blog"}},
        ],
        namespace="t",
    )
    calls = [
        {
            "vector": dense[2].tolist(),
            "top_k": 2,
            "namespace": "t",
            "filter": {"kind": {"$in": ["faq", "blog"]}},
            "include_metadata": True,
        },
        {
            "vector": dense[2].tolist(),
            "sparse_vector": {"indices": [5, 9], "values": [0.25, 1.0]},
            "top_k": 2,
            "namespace": "t",
            "include_metadata": True,
            "include_values": True,
        },
    ]
    for call in calls:
        double.posted.clear()
        want, got = sdk.query(**call), reads.query(**call)
        (sent_by_sdk, sent_by_reads) = double.posted
        assert sent_by_reads == sent_by_sdk and sent_by_reads[1] == API_VERSION
        assert [(m.id, m.score, m.metadata, list(m.values)) for m in got.matches] == [
            (m.id, m.score, m.metadata, list(m.values)) for m in want.matches
        ]
    double.posted.clear()
    assert (
        reads.describe_index_stats().namespaces["t"].vector_count == sdk.describe_index_stats().namespaces["t"].vector_count == 2
    )
    assert double.posted[0] == double.posted[1]


def test_the_read_client_fails_clearly_and_transiently_only_when_it_is(double) -> None:
    from workbench.resilience import transient

    with pytest.raises(PineconeHTTPError, match="HTTP 401.*Invalid API Key") as wrong_key:
        ReadClient(double.host, "wrong-key").query(vector=vectors(1)[0].tolist(), top_k=1, namespace="t")
    assert not transient(wrong_key.value)  # another attempt cannot help
    cosine = PineconeDouble(8, metric="cosine")
    try:
        with pytest.raises(PineconeHTTPError, match="HTTP 400.*need dotproduct") as bad:
            ReadClient(cosine.host, "pc-test-key").query(
                vector=vectors(1)[0].tolist(), top_k=1, sparse_vector={"indices": [1], "values": [1.0]}
            )
    finally:
        cosine.close()
    assert bad.value.status_code == 400 and not transient(bad.value)
    double.close()  # nothing listens any more
    with pytest.raises(ConnectionError, match="Pinecone") as gone:
        ReadClient(double.host, "pc-test-key", timeout_s=2).query(vector=vectors(1)[0].tolist(), top_k=1, namespace="t")
    assert transient(gone.value)
    with pytest.raises(ValueError, match="API key"):
        ReadClient(double.host, "")


def test_the_read_client_verifies_pinecones_certificate_and_reuses_one_tls_context(tmp_path, monkeypatch) -> None:
    """Over HTTPS it trusts the system's store (here the double's own certificate, through SSL_CERT_FILE) and no
    other certificate; ten concurrent queries share one TLS context (urllib3 alone would load the CAs for each)."""
    import ssl
    from concurrent.futures import ThreadPoolExecutor

    tls = self_signed(tmp_path)
    double = PineconeDouble(8, tls=tls)
    try:
        assert double.host.startswith("https://")
        v = vectors(1)[0].tolist()
        double.upsert({"vectors": [{"id": "a", "values": v, "metadata": {"text": "x"}}], "namespace": "t"})
        with pytest.raises(ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            ReadClient(double.host, "pc-test-key").query(vector=v, top_k=1, namespace="t")  # not in the default store
        monkeypatch.setenv("SSL_CERT_FILE", str(tls[0]))
        loads = []
        monkeypatch.setattr(
            ssl.SSLContext,
            "load_default_certs",
            lambda self, *a: loads.append(1) or ssl.SSLContext.set_default_verify_paths(self),
        )
        reads = ReadClient(double.host, "pc-test-key")
        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(lambda _: reads.query(vector=v, top_k=1, namespace="t"), range(10)))
        assert [[m.id for m in r.matches] for r in results] == [["a"]] * 10
        assert len(loads) == 1
    finally:
        double.close()
