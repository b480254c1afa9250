"""Ingestion: load, chunk, embed what is new (cached by text), upsert into the configured index."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from workbench.assembly import build_embedder
from workbench.config import AgentConfig
from workbench.ingest.chunking import chunk_documents
from workbench.ingest.loaders import Document, load_corpus
from workbench.protocols import Embedder, VectorIndex
from workbench.registry import BuildContext, build
from workbench.resilience import bulk
from workbench.workspace import Workspace


@dataclass(frozen=True)
class IngestReport:
    documents: int
    chunks: int
    written: int
    unchanged: int
    embedded: int
    seconds: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def ingest(
    corpus: str | Path,
    config: AgentConfig,
    workspace: Workspace | None = None,
    *,
    tenant: str | None = None,
    embedder: Embedder | None = None,
    index: VectorIndex | None = None,
    progress: bool = True,
    limit: int | None = None,
    keep: Callable[[Document], bool] | None = None,
) -> IngestReport:
    """Ingest `corpus` (any supported format), optionally only the documents `keep` accepts.

    Unchanged chunks are skipped; new text is embedded once."""
    start = time.perf_counter()
    ctx = BuildContext(config, workspace or Workspace.default())
    ctx.embedder = embedder if embedder is not None else build_embedder(ctx)
    index = index if index is not None else build("index", config.index.kind, ctx)
    docs = [d for d in load_corpus(corpus) if keep is None or keep(d)][:limit]
    chunks = chunk_documents(docs, config.retrieval.chunking, config.retrieval.tenant_field, tenant)
    field = config.retrieval.tenant_field
    stored = {
        (t, cid): digest
        for t in {c.metadata[field] for c in chunks}  # ids are unique per tenant only
        for cid, digest in index.fingerprints([c.id for c in chunks if c.metadata[field] == t], t).items()
    }
    todo = [c for c in chunks if stored.get((c.metadata[field], c.id)) != c.metadata["content_hash"]]
    # Similar lengths batch together, as the model's own encode() would arrange: less padding, full speed.
    todo.sort(key=lambda c: len(c.text))
    before = getattr(ctx.embedder, "computed", 0)
    batch = config.embedder.batch_size * 8
    from tqdm.auto import tqdm

    with bulk(), tqdm(total=len(todo), desc="ingest", unit="chunk", disable=not progress) as bar:
        for i in range(0, len(todo), batch):
            part = todo[i : i + batch]
            texts, metadatas = [c.text for c in part], [c.metadata for c in part]
            vectors = ctx.embedder.embed(texts)
            if config.retrieval.chunking.sentence_vectors:
                from workbench.reasoners.sentences import with_sentence_vectors

                metadatas = with_sentence_vectors(texts, metadatas, ctx.embedder)
            index.upsert([c.id for c in part], vectors, texts, metadatas)
            bar.update(len(part))
    if config.retrieval.hybrid.enabled and config.retrieval.hybrid.method == "sparse_dense":
        from workbench.indexes.sparse_dense import fit_at_ingest

        fit_at_ingest(index, config.retrieval.tenant_field)
    return IngestReport(
        len(docs),
        len(chunks),
        len(todo),
        len(chunks) - len(todo),
        getattr(ctx.embedder, "computed", 0) - before,
        round(time.perf_counter() - start, 3),
    )
