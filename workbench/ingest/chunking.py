"""Chunking with LangChain's text splitters; chunk ids and hashes are stable so re-ingestion is incremental."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable

from workbench.config import ChunkingConfig
from workbench.errors import CorpusError
from workbench.ingest.loaders import Document

_SCALAR = (str, int, float, bool)


@dataclass(frozen=True)
class Chunk:
    id: str
    text: str
    metadata: dict[str, Any]


def doc_id_of(chunk_id: str) -> str:
    """The document a chunk came from: chunk ids are `<doc id>#c<n>`."""
    return chunk_id.rsplit("#c", 1)[0]


def make_splitter(cfg: ChunkingConfig) -> Any:
    from langchain_text_splitters import CharacterTextSplitter, MarkdownTextSplitter, RecursiveCharacterTextSplitter

    kinds = {"recursive": RecursiveCharacterTextSplitter, "character": CharacterTextSplitter, "markdown": MarkdownTextSplitter}
    return kinds[cfg.splitter](chunk_size=cfg.size, chunk_overlap=cfg.overlap)


def chunk_documents(docs: Iterable[Document], cfg: ChunkingConfig, tenant_field: str, default_tenant: str | None) -> list[Chunk]:
    splitter = make_splitter(cfg)
    chunks: list[Chunk] = []
    for doc in docs:
        tenant = doc.metadata.get(tenant_field, default_tenant)
        if not tenant:
            raise CorpusError(f"document {doc.id!r} has no {tenant_field!r} in its metadata; pass --tenant to set a default")
        for key, value in doc.metadata.items():
            if not isinstance(value, _SCALAR):
                raise CorpusError(
                    f"document {doc.id!r}: metadata {key!r} must be a string, number or boolean "
                    f"(vector stores filter on scalars), got {value!r}"
                )
        for n, piece in enumerate(splitter.split_text(doc.text)):
            meta = {**doc.metadata, tenant_field: tenant, "doc_id": doc.id, "title": doc.title, "chunk": n}
            # Whether sentence vectors are stored is part of what a chunk holds: switching it rewrites the chunk.
            hashed = [piece, meta] + (["sentence_vectors"] if cfg.sentence_vectors else [])
            digest = hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:16]
            chunks.append(Chunk(f"{doc.id}#c{n}", piece, {**meta, "content_hash": digest}))
    return chunks
