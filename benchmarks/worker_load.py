"""Bounded load test on loopback: sustained events/s through the local worker (offline reasoner, real MiniLM).

    python benchmarks/worker_load.py [--events 300] [--concurrency 2]

Publishes SQuAD questions (distinct texts: nothing is served from the embedding cache) to the local bus,
then drains it with the worker. Reports events/s over the drain and the p50/p99 of each event's handling
time (embed, retrieve, state, reason, persist, act, idempotency record).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from workbench.bus import LocalBus
from workbench.config import AgentConfig
from workbench.evaluation.dataset import from_squad
from workbench.idempotency import SQLiteIdempotency
from workbench.ingest.pipeline import ingest
from workbench.loop import Agent
from workbench.worker import Worker
from workbench.workspace import Workspace

CORPUS = Path(__file__).resolve().parent.parent / "datasets" / "squad-v1.1-dev-24" / "dev-v1.1-first24.json"
ARTICLES = ["Super_Bowl_50", "Warsaw", "Oxygen"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp))
        cfg = AgentConfig(name="load")
        agent = Agent.from_config(cfg, ws)
        ingest(CORPUS, cfg, ws, tenant="acme", embedder=agent.embedder, index=agent.index, progress=False,
               keep=lambda d: d.metadata.get("article") in ARTICLES)
        cases = from_squad(CORPUS, "acme", per_paragraph=5, articles=ARTICLES).cases[: args.events]
        bus = LocalBus(ws.bus)
        for i, case in enumerate(cases):
            bus.publish(json.dumps({"event_id": f"load-{i}", "tenant": "acme", "user_id": f"u{i % 50}", "text": case.turns[0].question}))
        start = time.perf_counter()
        stats = Worker(agent, bus, SQLiteIdempotency(ws.idempotency)).run(args.concurrency)
        elapsed = time.perf_counter() - start
    lat = np.array(stats.latencies_ms)
    print(json.dumps({"events": stats.processed, "concurrency": args.concurrency, "seconds": round(elapsed, 2),
                      "events_per_s": round(stats.processed / elapsed, 1), "p50_ms": round(float(np.percentile(lat, 50)), 1),
                      "p99_ms": round(float(np.percentile(lat, 99)), 1)}, indent=2))


if __name__ == "__main__":
    main()
