"""Copy an evaluated Chroma index into Pinecone: same ids, vectors and metadata, a namespace per tenant collection.

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
    namespaces: dict[str, int] = {}
    with tqdm(total=chroma.count(), desc="pinecone", unit="vec", disable=not progress) as bar:
        for tenant in chroma.tenants():  # a Chroma collection per tenant becomes a namespace per tenant
            for page in chroma.pages(tenant, size=_PAGE):
                target.upsert(page["ids"], page["embeddings"], page["documents"], page["metadatas"])
                namespaces[tenant] = namespaces.get(tenant, 0) + len(page["ids"])
                bar.update(len(page["ids"]))
    return LoadReport(sum(namespaces.values()), namespaces)
