"""Copy an evaluated Chroma collection into Pinecone: same ids, vectors and metadata, one namespace per tenant.

Checks dimension and metric before writing anything; writes in batches with a progress bar; idempotent
(upserts by id), so an interrupted load can simply be run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.config import AgentConfig
from workbench.export.bundle import ExportError, pinecone_spec
from workbench.indexes.pinecone import PineconeIndex

_PAGE = 500


@dataclass(frozen=True)
class LoadReport:
    vectors: int
    namespaces: dict[str, int]


def load_into_pinecone(chroma: Any, cfg: AgentConfig, index: Any, progress: bool = True) -> LoadReport:
    """`chroma`: the evaluated ChromaIndex; `index`: a Pinecone `Index` (data plane)."""
    from tqdm.auto import tqdm

    spec = pinecone_spec(cfg)
    stats = index.describe_index_stats()
    found = {"dimension": getattr(stats, "dimension", None), "metric": getattr(stats, "metric", None)}
    for key in ("dimension", "metric"):
        if found[key] is not None and found[key] != spec[key]:
            raise ExportError(f"Pinecone index has {key} {found[key]!r}, the evaluated config needs {spec[key]!r}; "
                              "create the index from pinecone_index.json")
    target = PineconeIndex(index, cfg.retrieval.tenant_field)
    total = chroma.count()
    namespaces: dict[str, int] = {}
    with tqdm(total=total, desc="pinecone", unit="vec", disable=not progress) as bar:
        for offset in range(0, total, _PAGE):
            page = chroma.collection.get(include=["embeddings", "metadatas", "documents"], limit=_PAGE, offset=offset)
            target.upsert(page["ids"], page["embeddings"], page["documents"], page["metadatas"])
            for meta in page["metadatas"]:
                tenant = str(meta[cfg.retrieval.tenant_field])
                namespaces[tenant] = namespaces.get(tenant, 0) + 1
            bar.update(len(page["ids"]))
    return LoadReport(total, namespaces)
