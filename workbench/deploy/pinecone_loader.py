"""Copy an evaluated Chroma index into Pinecone: same ids, vectors and metadata, a namespace per tenant collection.

With `retrieval.hybrid.method: sparse_dense` each record also carries its BM25 sparse values, encoded with its
tenant's parameters (fitted on the evaluated index, shipped in the bundle for the query side). Checks dimension and
metric before writing anything, and each record against Pinecone's limits (metadata 40 KB, 1000 sparse values);
writes in batches with a progress bar; idempotent (upserts by id), so an interrupted load can simply be run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.config import AgentConfig
from workbench.deploy.bundle import pinecone_spec
from workbench.errors import ExportError
from workbench.indexes.pinecone import PineconeIndex

_PAGE = 500
METADATA_LIMIT_BYTES, SPARSE_LIMIT = 40 * 1024, 1000  # https://docs.pinecone.io/reference/api/database-limits


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
            raise ExportError(
                f"Pinecone index has {key} {found[key]!r}, the evaluated config needs {spec[key]!r}; "
                "create the index from pinecone_index.json"
            )
    field = cfg.retrieval.tenant_field
    target = PineconeIndex(index, field)
    params = _sparse_params(chroma, cfg)
    namespaces: dict[str, int] = {}
    with tqdm(total=chroma.count(), desc="pinecone", unit="vec", disable=not progress) as bar:
        for tenant in chroma.tenants():  # a Chroma collection per tenant becomes a namespace per tenant
            for page in chroma.pages(tenant, size=_PAGE):
                sparse = None
                if params is not None:
                    from workbench.indexes.sparse.bm25 import encode_document

                    sparse = [encode_document(params[tenant], text) for text in page["documents"]]
                _check_limits(page, sparse)
                target.upsert(page["ids"], page["embeddings"], page["documents"], page["metadatas"], sparse=sparse)
                namespaces[tenant] = namespaces.get(tenant, 0) + len(page["ids"])
                bar.update(len(page["ids"]))
    return LoadReport(sum(namespaces.values()), namespaces)


def _sparse_params(chroma: Any, cfg: AgentConfig) -> dict[str, Any] | None:
    if not (cfg.retrieval.hybrid.enabled and cfg.retrieval.hybrid.method == "sparse_dense"):
        return None
    from workbench.indexes.sparse_dense import tenant_params

    return tenant_params(chroma, cfg.retrieval.tenant_field)


def _check_limits(page: dict[str, Any], sparse: list[dict[str, list]] | None) -> None:
    import json

    for i, (cid, meta, text) in enumerate(zip(page["ids"], page["metadatas"], page["documents"])):
        size = len(json.dumps({**meta, "text": text}, separators=(",", ":")).encode())
        if size > METADATA_LIMIT_BYTES:
            raise ExportError(
                f"chunk {cid!r}: metadata with its text is {size} bytes, over Pinecone's {METADATA_LIMIT_BYTES} "
                "per record; use smaller retrieval.chunking.size or fewer metadata fields"
            )
        if sparse is not None and len(sparse[i]["indices"]) > SPARSE_LIMIT:
            raise ExportError(
                f"chunk {cid!r}: {len(sparse[i]['indices'])} distinct BM25 terms, over Pinecone's {SPARSE_LIMIT} "
                "non-zero sparse values per record; use smaller retrieval.chunking.size"
            )
