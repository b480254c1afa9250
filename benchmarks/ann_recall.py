"""HNSW recall@10 against exact search on real MiniLM embeddings, and tenant-scoped against unscoped queries.

    python benchmarks/ann_recall.py [--squad FILE ...] [--queries 500] [--json]

Corpus: every sentence of the SQuAD paragraphs plus the questions not held out (20,497 texts with both
halves of SQuAD v1.1 dev); queries: 500 held-out questions. Embeddings are cached under
.workbench/benchmarks/. Each (max_neighbors, construction_ef) graph is built once and searched with every
search_ef (the index reloads the graph when search_ef changes); the graphs answer each query in turn, so
load on the machine hits them alike. Ground truth: numpy brute force.

Tenants (articles alternate between two tenants of ~10k): the scoped query in a collection per tenant
(the index's layout) against the unscoped query on the whole 20k, and against the earlier layout's
metadata filter on one shared collection.

Targets (issue 17): defaults with recall@10 >= 0.98 and p50 <= 5 ms at 20k; tenant-scoped p50 <= 2x unscoped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

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


def measure(searchers: dict[str, Callable], queries: np.ndarray, truths: dict[str, list[set[str]]]) -> dict[str, dict]:
    """recall@10, p50 and p95 of each `search(i, vector) -> ids`. Every searcher answers each query in turn
    (rotating who goes first), so all of them see the same machine load and their ratios hold."""
    names = list(searchers)
    for i in range(5):  # warm-up: loads each graph
        for name in names:
            searchers[name](i, queries[i])
    latency: dict[str, list[float]] = {n: [] for n in names}
    recall: dict[str, list[float]] = {n: [] for n in names}
    for i, q in enumerate(queries):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            start = time.perf_counter()
            ids = searchers[name](i, q)
            latency[name].append((time.perf_counter() - start) * 1000)
            recall[name].append(len(set(ids) & truths[name][i]) / K)
    return {
        n: {
            "recall@10": round(float(np.mean(recall[n])), 4),
            "p50_ms": round(float(np.percentile(latency[n], 50)), 2),
            "p95_ms": round(float(np.percentile(latency[n], 95)), 2),
        }
        for n in names
    }


def _built(path: Path, cfg: IndexConfig, data: AnnData, metas: list[dict]) -> tuple[ChromaIndex, float]:
    index, start = ChromaIndex(path, cfg), time.perf_counter()
    if index.count() == 0:
        index.upsert([str(i) for i in range(len(data.texts))], data.vectors, data.texts, metas)
    return index, round(time.perf_counter() - start, 1)


def _config(m: int, cef: int, ef: int) -> IndexConfig:
    return IndexConfig(hnsw={"max_neighbors": m, "construction_ef": cef, "search_ef": ef})


def grid(data: AnnData, folder: Path) -> list[dict]:
    everyone = [{"tenant": "all"}] * len(data.texts)
    truth = [{str(j) for j in row} for row in exact_top(data.vectors, data.queries)]
    build_s = {g: _built(folder / f"grid-{g[0]}-{g[1]}", _config(*g, SEARCH_EF[0]), data, everyone)[1] for g in GRAPHS}
    rows = []
    for ef in SEARCH_EF:  # the graphs are searched side by side; the index reloads each when search_ef changes
        indexes = {g: ChromaIndex(folder / f"grid-{g[0]}-{g[1]}", _config(*g, ef)) for g in GRAPHS}
        got = measure(
            {g: (lambda i, q, ix=ix: [h.id for h in ix.query(q, K, "all")]) for g, ix in indexes.items()},
            data.queries,
            {g: truth for g in GRAPHS},
        )
        rows += [
            {"max_neighbors": g[0], "construction_ef": g[1], "search_ef": ef, **got[g], "build_s": build_s[g]} for g in GRAPHS
        ]
        print(rows[-3:], file=sys.stderr)
    return sorted(rows, key=lambda r: (r["max_neighbors"], r["construction_ef"], r["search_ef"]))


def tenants(data: AnnData, folder: Path, cfg: IndexConfig) -> list[dict]:
    """Scoped (collection per tenant; earlier layout: filter on one collection) against unscoped, same settings."""
    metas = [{"tenant": t} for t in data.tenants]
    tenant_of = np.array(data.tenants)
    scoped_truth = []
    for q, t in zip(data.queries, data.query_tenants):
        own = np.flatnonzero(tenant_of == t)
        scoped_truth.append({str(own[j]) for j in exact_top(data.vectors[own], q[None])[0]})
    per_tenant, _ = _built(folder / "per-tenant", cfg, data, metas)
    # The earlier layout: both tenants in one collection (the unscoped one), the tenant as a metadata filter.
    whole, _ = _built(folder / "shared", cfg, data, [{"tenant": "all", "owner": t} for t in data.tenants])
    shared = whole.collection("all")
    got = measure(
        {
            "unscoped (one collection, 20k)": lambda i, q: [h.id for h in whole.query(q, K, "all")],
            "tenant-scoped: collection per tenant (10k each)": lambda i, q: [
                h.id for h in per_tenant.query(q, K, data.query_tenants[i])
            ],
            "tenant-scoped: metadata filter on one shared collection (earlier layout)": lambda i, q: shared.query(
                query_embeddings=[q.tolist()],
                n_results=K,
                where={"owner": data.query_tenants[i]},
                include=["documents", "metadatas", "distances"],
            )["ids"][0],
        },
        data.queries,
        {
            "unscoped (one collection, 20k)": [{str(j) for j in row} for row in exact_top(data.vectors, data.queries)],
            "tenant-scoped: collection per tenant (10k each)": scoped_truth,
            "tenant-scoped: metadata filter on one shared collection (earlier layout)": scoped_truth,
        },
    )
    return [{"query": name, **row} for name, row in got.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--squad", type=Path, action="append", help="SQuAD JSON files (default: the bundled half and ../shared's other half)"
    )
    parser.add_argument("--queries", type=int, default=500, help="held-out questions used as queries")
    parser.add_argument("--json", action="store_true", help="print the tables as JSON")
    args = parser.parse_args()
    import pandas as pd

    paths = args.squad or [p for p in (BUNDLED, SHARED) if p.exists()]
    data = load(paths, args.queries, ROOT / ".workbench" / "benchmarks")
    print(
        f"{len(data.texts)} indexed texts, {len(data.queries)} queries, 384-d MiniLM; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        file=sys.stderr,
    )
    defaults = IndexConfig()
    with tempfile.TemporaryDirectory() as tmp:
        table = grid(data, Path(tmp))
        scoped = tenants(data, Path(tmp), defaults)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}", file=sys.stderr)
    if args.json:
        print(json.dumps({"grid": table, "tenants": scoped, "defaults": defaults.hnsw.model_dump()}))
        return
    print(pd.DataFrame(table).to_markdown(index=False))
    print(f"\ntenants, defaults {defaults.hnsw.model_dump()}:")
    print(pd.DataFrame(scoped).to_markdown(index=False))
    print(
        f"\nscoped / unscoped p50: {scoped[1]['p50_ms'] / scoped[0]['p50_ms']:.2f} (target <= 2); "
        f"earlier layout / unscoped: {scoped[2]['p50_ms'] / scoped[0]['p50_ms']:.1f}"
    )


if __name__ == "__main__":
    main()
