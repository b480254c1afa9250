"""Corpus loaders, chunking and incremental, cached ingestion into a real Chroma index."""

import json
import re

import pytest

from workbench.errors import CorpusError
from workbench.ingest.chunking import chunk_documents
from workbench.ingest.loaders import load_corpus
from workbench.ingest.pipeline import ingest
from workbench.loop import Agent


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_every_format_loads(tmp_path, squad_subset) -> None:
    jsonl = write(tmp_path / "c.jsonl", json.dumps({"id": 1, "title": "T", "text": "body", "metadata": {"k": "v"}}) + "\n\n")
    beir = write(tmp_path / "corpus.jsonl", json.dumps({"_id": "d1", "title": "", "text": "beir body"}))
    csv = write(tmp_path / "c.csv", "id,title,text,lang\na,A,alpha text,en\nb,,beta text,\n")
    folder = tmp_path / "notes"
    write(folder / "x.md", "# Heading\nmarkdown body")
    write(folder / "sub/y.txt", "plain body")
    write(folder / "skip.bin", "ignored")

    [d] = load_corpus(jsonl)
    assert (d.id, d.title, d.text, d.metadata) == ("1", "T", "body", {"k": "v"})
    assert load_corpus(beir)[0].id == "d1"
    assert [(x.id, x.metadata) for x in load_corpus(csv)] == [("a", {"lang": "en"}), ("b", {})]
    assert [(x.id, x.title) for x in load_corpus(folder)] == [("sub/y.txt", "y"), ("x.md", "Heading")]
    squad = load_corpus(squad_subset)
    assert squad[0].id == "Super_Bowl_50#0" and squad[0].metadata == {"article": "Super_Bowl_50"}
    assert len(squad) == 24


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.jsonl", '{"id": 1, "text": "ok"}\n{"id": 2}\n', "bad.jsonl line 2: needs an id"),
        ("bad2.jsonl", "{oops\n", "line 1: invalid JSON"),
        ("dup.jsonl", '{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n', "document id '1' appears twice"),
        ("bad.csv", "name,body\nx,y\n", "CSV lacks column(s) ['id', 'text']"),
        ("bad.json", "[]", "not SQuAD JSON"),
        ("bad.pdf", "%PDF", "unsupported corpus format '.pdf'"),
        ("empty.jsonl", "\n", "holds no documents"),
    ],
)
def test_bad_corpora_are_named(tmp_path, name, content, message) -> None:
    with pytest.raises(CorpusError, match=re.escape(message)):
        load_corpus(write(tmp_path / name, content))
    with pytest.raises(CorpusError, match="no such file"):
        load_corpus(tmp_path / "absent.jsonl")


def test_chunks_carry_tenant_doc_id_and_overlap(hashing_config, tmp_path) -> None:
    docs = load_corpus(write(tmp_path / "c.jsonl", json.dumps({"id": "long", "text": " ".join(f"word{i}" for i in range(400))})))
    cfg = hashing_config.with_overrides({"retrieval.chunking.size": 300, "retrieval.chunking.overlap": 60}).retrieval.chunking
    chunks = chunk_documents(docs, cfg, "tenant", "acme")
    assert len(chunks) > 5
    assert all(len(c.text) <= 300 for c in chunks)
    assert chunks[0].text.split()[-1] in chunks[1].text  # overlap carries words across the boundary
    assert {c.metadata["tenant"] for c in chunks} == {"acme"} and chunks[3].metadata["doc_id"] == "long"
    with pytest.raises(CorpusError, match="pass --tenant"):
        chunk_documents(docs, cfg, "tenant", None)
    nested = load_corpus(write(tmp_path / "n.jsonl", json.dumps({"id": "n", "text": "t", "metadata": {"tags": ["a"]}})))
    with pytest.raises(CorpusError, match="metadata 'tags' must be a string, number or boolean"):
        chunk_documents(nested, cfg, "tenant", "acme")


def test_reingest_embeds_only_what_changed(hashing_config, workspace, tmp_path) -> None:
    rows = [{"id": f"d{i}", "text": f"document number {i} about topic {i % 3}"} for i in range(20)]
    corpus = write(tmp_path / "c.jsonl", "\n".join(json.dumps(r) for r in rows))
    agent = Agent.from_config(hashing_config, workspace)
    first = ingest(corpus, hashing_config, workspace, tenant="acme", embedder=agent.embedder, index=agent.index, progress=False)
    assert (first.chunks, first.written, first.embedded) == (20, 20, 20)
    again = ingest(corpus, hashing_config, workspace, tenant="acme", embedder=agent.embedder, index=agent.index, progress=False)
    assert (again.written, again.unchanged, again.embedded) == (0, 20, 0)

    rows[3]["text"] = "a rewritten document"
    rows[4]["metadata"] = {"lang": "en"}  # same text, new metadata: rewritten, not re-embedded
    write(corpus, "\n".join(json.dumps(r) for r in rows))
    third = ingest(corpus, hashing_config, workspace, tenant="acme", embedder=agent.embedder, index=agent.index, progress=False)
    assert (third.written, third.embedded) == (2, 1)
    assert agent.index.count() == 20
    assert agent.index.collection("acme").get(ids=["d4#c0"])["metadatas"][0]["lang"] == "en"


def test_the_embedding_cache_survives_processes(hashing_config, workspace) -> None:
    from workbench.assembly import build_embedder
    from workbench.registry import BuildContext

    first = build_embedder(BuildContext(hashing_config, workspace))
    vectors = first.embed(["alpha", "beta", "alpha"])
    assert first.computed == 2 and (vectors[0] == vectors[2]).all()
    second = build_embedder(BuildContext(hashing_config, workspace))
    assert (second.embed(["beta"])[0] == vectors[1]).all() and second.computed == 0


def test_concurrent_callers_never_embed_a_text_twice(hashing_config, workspace) -> None:
    """ragas scores samples concurrently through the same cache; a shared text must reach the model once."""
    import threading
    import time as clock

    from workbench.embedders.cache import CachedEmbedder
    from workbench.embedders.hashing import HashingEmbedder

    seen: list[str] = []

    class Slow(HashingEmbedder):
        def embed(self, texts):
            seen.extend(texts)
            clock.sleep(0.01)  # widen the window between lookup and store
            return super().embed(texts)

    cache = CachedEmbedder(Slow(), workspace.embedding_cache)
    threads = [threading.Thread(target=cache.embed, args=(["shared answer", f"own {i}"],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen.count("shared answer") == 1 and cache.computed == 9
