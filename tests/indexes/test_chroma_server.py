"""Chroma as a server: a real `chroma run` on loopback gives the embedded index's ids and metrics, a search_ef that
takes effect, and TLS, headers and auth from Chroma's own environment variables."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import _free_port, serving

from workbench.config import AgentConfig, IndexConfig
from workbench.errors import ChromaServerError, ConfigError
from workbench.indexes.chroma import ChromaIndex
from workbench.indexes.chroma_server import ChromaServerStore
from workbench.lab.evalsets import DatasetSpec
from workbench.lab.evaluate import evaluate
from workbench.workspace import Workspace

CHROMA = str(Path(sys.executable).parent / "chroma")
QUALITY = ("ndcg_at_10", "recall_at_k", "mrr_at_k", "hit_rate_at_k", "ann_recall_at_k", "rouge_score", "decline_rate")


@pytest.fixture(scope="module")
def chroma_port(tmp_path_factory):
    """A real Chroma server (`chroma run`) on a free loopback port, for this module only."""
    folder = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    args = [CHROMA, "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)]
    with serving("chroma run", args, port, log=folder / "chroma.log"):
        yield port


def on_server(cfg: AgentConfig, port: int) -> AgentConfig:
    return cfg.with_overrides({"index.host": "127.0.0.1", "index.port": port})


def test_evaluation_against_the_server_matches_the_embedded_index(chroma_port, squad_subset, tmp_path) -> None:
    cfg = AgentConfig(name="srv", embedder={"kind": "hashing"})
    remote = on_server(cfg, chroma_port)
    assert remote.config_id == cfg.config_id  # the same pipeline, stored elsewhere
    spec = DatasetSpec(corpus=squad_subset, limit=10)
    ws = Workspace(tmp_path / "ws")
    embedded = evaluate(cfg, spec, ws, progress=False)
    served = evaluate(remote, spec, ws, progress=False)

    assert served.index_key != embedded.index_key
    assert list(served.table["retrieved"]) == list(embedded.table["retrieved"])
    assert list(served.table["answer"]) == list(embedded.table["answer"])
    assert {m: served.metrics[m] for m in QUALITY} == {m: embedded.metrics[m] for m in QUALITY}
    assert served.metrics["ndcg_at_10"] > 0
    assert served.embedded == 0  # the embedding cache: the server's index embedded nothing new

    chunks = json.loads((served.index_path / "ready.json").read_text())["chunks"]
    index = ChromaIndex(served.index_path, remote.index)
    assert index.count() == chunks and index._store.database == f"workbench-{served.index_key}"
    assert not (served.index_path / "chroma.sqlite3").exists()  # nothing of the index is kept locally

    for tenant in index.tenants():  # a server wiped behind the marker's back is rebuilt, not evaluated empty
        index._store.drop(index.collection(tenant).name)
    assert index.count() == 0
    again = evaluate(remote, spec, ws, progress=False)
    assert list(again.table["retrieved"]) == list(embedded.table["retrieved"]) and index.count() == chunks


def test_cli_ingest_and_ask_against_the_server(chroma_port, tmp_path) -> None:
    cfg = on_server(AgentConfig(embedder={"kind": "hashing"}, index={"collection": "cli-test"}), chroma_port)
    path = cfg.save(tmp_path / "server.yaml")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "sb", "text": "The Denver Broncos won Super Bowl 50."}) + "\n")

    def cli(*args):
        proc = subprocess.run(
            [sys.executable, "-m", "workbench.cli", *args, "--config", str(path), "--home", str(tmp_path / "ws")],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    assert json.loads(cli("ingest", str(corpus), "--tenant", "acme"))["written"] == 1
    decision = json.loads(cli("ask", "Who won Super Bowl 50?", "--tenant", "acme", "--json"))
    assert decision["citations"] == ["sb#c0"]
    assert not (tmp_path / "ws" / "chroma" / "chroma.sqlite3").exists()
    index = ChromaIndex(tmp_path / "elsewhere" / "chroma", cfg.index)  # another workspace of the team: the same index
    assert index.count("acme") == 1 and list(index.fingerprints(["sb#c0"], "acme")) == ["sb#c0"]


def _thin(ef: int, port: int) -> IndexConfig:
    return IndexConfig(
        collection="thin", host="127.0.0.1", port=port, hnsw={"max_neighbors": 8, "construction_ef": 20, "search_ef": ef}
    )


def test_a_changed_search_ef_takes_effect_on_the_server(chroma_port, tmp_path) -> None:
    """The server keeps a loaded graph's ef_search (the raw client shows it); the store moves the collection instead."""
    rng = np.random.default_rng(7)
    data = rng.standard_normal((2000, 384)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    queries = data[:20] + 0.5 * rng.standard_normal((20, 384)).astype(np.float32) / np.sqrt(384)
    exact = np.argsort(-queries @ data.T, axis=1)[:, :10]

    def recall(ids):
        return float(np.mean([len(set(map(int, g)) & set(e)) / 10 for g, e in zip(ids, exact)]))

    folder = tmp_path / "graph"
    narrow = ChromaIndex(folder, _thin(10, chroma_port))
    narrow.upsert([str(i) for i in range(len(data))], data, ["t"] * len(data), [{"tenant": "t"}] * len(data))
    col = narrow.collection("t")
    before = recall(col.query(query_embeddings=queries.tolist(), n_results=10)["ids"])
    col.modify(configuration={"hnsw": {"ef_search": 500}})  # what the embedded store does: here it changes nothing
    assert recall(col.query(query_embeddings=queries.tolist(), n_results=10)["ids"]) == before
    col.modify(configuration={"hnsw": {"ef_search": 10}})

    wide = ChromaIndex(folder, _thin(500, chroma_port))
    after = recall([[h.id for h in wide.query(q, 10, "t")] for q in queries])
    assert after >= before + 0.15, (before, after)
    assert wide.count() == len(data) and wide.tenants() == ["t"]  # moved, not copied: one collection per tenant
    assert [c.name for c in wide._store.collections()] == [wide.collection("t").name]
    assert wide.vectors(["5"], "t")["5"] == pytest.approx(data[5], abs=1e-6)  # vectors moved as they were


def test_headers_auth_and_tls_come_from_chromas_variables(chroma_port, monkeypatch) -> None:
    monkeypatch.setenv("CHROMA_SERVER_HEADERS", '{"X-Team": "search"}')
    monkeypatch.setenv("CHROMA_CLIENT_AUTH_PROVIDER", "chromadb.auth.token_authn.TokenAuthClientProvider")
    monkeypatch.setenv("CHROMA_CLIENT_AUTH_CREDENTIALS", "s3cret-token")
    store = ChromaServerStore("127.0.0.1", chroma_port, "workbench-headers")
    sent = store.client._server.get_request_headers()
    assert sent["x-team"] == "search" and sent["authorization"] == "Bearer s3cret-token"
    assert "s3cret" not in AgentConfig(index={"host": "127.0.0.1", "port": chroma_port}).to_yaml(reveal_secrets=True)

    monkeypatch.setenv("CHROMA_SERVER_SSL_ENABLED", "true")  # a plain-HTTP server refuses the TLS handshake
    with pytest.raises(ChromaServerError, match=f"https://127.0.0.1:{chroma_port}"):
        ChromaServerStore("127.0.0.1", chroma_port, "workbench-tls")
    monkeypatch.setenv("CHROMA_SERVER_SSL_ENABLED", "false")
    monkeypatch.setenv("CHROMA_SERVER_HEADERS", "{not json")
    with pytest.raises(ChromaServerError, match="chroma_server_headers"):
        ChromaServerStore("127.0.0.1", chroma_port, "workbench-bad")


def test_no_server_and_bad_addresses_are_explained(tmp_path) -> None:
    port = _free_port()  # nothing listens there
    with pytest.raises(ChromaServerError, match=rf"http://127.0.0.1:{port} \(index.host, index.port\).*chroma run"):
        ChromaIndex(tmp_path / "x", IndexConfig(host="127.0.0.1", port=port))
    for host in ("http://chroma:8000", "user:pw@chroma", "two words"):
        with pytest.raises(ConfigError, match="index.host"):
            AgentConfig.from_dict({"index": {"host": host}})
    with pytest.raises(ConfigError, match="index.port"):
        AgentConfig.from_dict({"index": {"host": "chroma", "port": 70000}})
