"""HNSW recall@10 against exact search on real MiniLM embeddings, and tenant-scoped against unscoped queries.

    python benchmarks/ann_recall.py [--squad FILE ...] [--queries 500] [--json]

Corpus: every sentence of the SQuAD paragraphs plus the questions not held out (20,497 texts with both
halves of SQuAD v1.1 dev); queries: 500 held-out questions. Embeddings are cached under
.workbench/benchmarks/. Each (max_neighbors, construction_ef) graph is built once and searched with every
search_ef (the index reloads the graph when search_ef changes). Ground truth: numpy brute force.

Tenants (articles alternate between two tenants of ~10k): the scoped query in a collection per tenant
(the index's layout) against the unscoped query on the whole 20k, and against the earlier layout's
metadata filter on one shared collection.

Targets (issue 17): defaults with recall@10 >= 0.98 and p50 <= 5 ms at 20k; tenant-scoped p50 <= 2x unscoped.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ann_data import AnnData, load  # noqa: E402

from workbench.config import IndexConfig  # noqa: E402
from workbench.indexes.chroma import ChromaIndex  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "datasets" / "squad-v1.1-dev-24" / "dev-v1.1-first24.json"
SHARED = ROOT.parent / "shared" / "datasets" / "squad-v1.1-dev-last24" / "dev-v1.1-last24.json"
GRAPHS = [(16, 100), (16, 200), (32, 200)]
SEARCH_EF = [10, 50, 100, 200]
K = 10


def exact_top(data: np.ndarray, queries: np.ndarray) -> np.ndarray:
    return np.argsort(-(queries @ data.T), axis=1, kind="stable")[:, :K]


def measure(search, queries: np.ndarray, truth: list[set[str]]) -> dict[str, float]:
    """recall@10 and latency of `search(i, vector) -> ids` over every query, after a few warm-up queries."""
    for i in range(5):
        search(i, queries[i])
    latencies, recalls = [], []
    for i, q in enumerate(queries):
        start = time.perf_counter()
        ids = search(i, q)
        latencies.append((time.perf_counter() - start) * 1000)
        recalls.append(len(set(ids) & truth[i]) / K)
    return {"recall@10": round(float(np.mean(recalls)), 4), "p50_ms": round(float(np.percentile(latencies, 50)), 2),
            "p95_ms": round(float(np.percentile(latencies, 95)), 2)}


def grid(data: AnnData, folder: Path) -> list[dict]:
    ids = [str(i) for i in range(len(data.texts))]
    truth = [{ids[j] for j in row} for row in exact_top(data.vectors, data.queries)]
    rows = []
    for m, cef in GRAPHS:
        cfg = lambda ef: IndexConfig(hnsw={"max_neighbors": m, "construction_ef": cef, "search_ef": ef})  # noqa: E731
        path = folder / f"grid-{m}-{cef}"
        start = time.perf_counter()
        ChromaIndex(path, cfg(SEARCH_EF[0])).upsert(ids, data.vectors, data.texts, [{"tenant": "all"}] * len(ids))
        build_s = time.perf_counter() - start
        for ef in SEARCH_EF:
            index = ChromaIndex(path, cfg(ef))
            got = measure(lambda i, q: [h.id for h in index.query(q, K, "all")], data.queries, truth)
            rows.append({"max_neighbors": m, "construction_ef": cef, "search_ef": ef, **got, "build_s": round(build_s, 1)})
            print(rows[-1], file=sys.stderr)
    return rows


def tenants(data: AnnData, folder: Path, cfg: IndexConfig) -> list[dict]:
    """Scoped (collection per tenant; earlier layout: filter on one collection) against unscoped, same settings."""
    ids = [str(i) for i in range(len(data.texts))]
    metas = [{"tenant": t} for t in data.tenants]
    tenant_of = np.array(data.tenants)
    truth = []
    for q, t in zip(data.queries, data.query_tenants):
        own = np.flatnonzero(tenant_of == t)
        truth.append({ids[own[j]] for j in exact_top(data.vectors[own], q[None])[0]})
    everything = [{ids[j] for j in row} for row in exact_top(data.vectors, data.queries)]

    per_tenant = ChromaIndex(folder / "per-tenant", cfg)
    per_tenant.upsert(ids, data.vectors, data.texts, metas)
    scoped = measure(lambda i, q: [h.id for h in per_tenant.query(q, K, data.query_tenants[i])], data.queries, truth)

    whole = ChromaIndex(folder / "unscoped", cfg)
    whole.upsert(ids, data.vectors, data.texts, [{"tenant": "all"}] * len(ids))
    unscoped = measure(lambda i, q: [h.id for h in whole.query(q, K, "all")], data.queries, everything)

    # The earlier layout: both tenants in one collection, the tenant as a metadata filter.
    shared = whole.collection("all")
    for s in range(0, len(ids), 1000):
        shared.update(ids=ids[s:s + 1000], metadatas=metas[s:s + 1000])
    filtered = measure(lambda i, q: shared.query(query_embeddings=[q.tolist()], n_results=K, where={"tenant": data.query_tenants[i]},
                                                 include=["documents", "metadatas", "distances"])["ids"][0], data.queries, truth)
    return [{"query": "unscoped (one collection, 20k)", **unscoped},
            {"query": "tenant-scoped: collection per tenant (10k each)", **scoped},
            {"query": "tenant-scoped: metadata filter on one shared collection (earlier layout)", **filtered}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, action="append", help="SQuAD JSON files (default: the bundled half and ../shared's other half)")
    parser.add_argument("--queries", type=int, default=500, help="held-out questions used as queries")
    parser.add_argument("--json", action="store_true", help="print the tables as JSON")
    args = parser.parse_args()
    import pandas as pd

    paths = args.squad or [p for p in (BUNDLED, SHARED) if p.exists()]
    data = load(paths, args.queries, ROOT / ".workbench" / "benchmarks")
    print(f"{len(data.texts)} indexed texts, {len(data.queries)} queries, 384-d MiniLM", file=sys.stderr)
    defaults = IndexConfig()
    with tempfile.TemporaryDirectory() as tmp:
        table = grid(data, Path(tmp))
        scoped = tenants(data, Path(tmp), defaults)
    if args.json:
        print(json.dumps({"grid": table, "tenants": scoped, "defaults": defaults.hnsw.model_dump()}))
        return
    print(pd.DataFrame(table).to_markdown(index=False))
    print(f"\ntenants, defaults {defaults.hnsw.model_dump()}:")
    print(pd.DataFrame(scoped).to_markdown(index=False))
    print(f"\nscoped / unscoped p50: {scoped[1]['p50_ms'] / scoped[0]['p50_ms']:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
