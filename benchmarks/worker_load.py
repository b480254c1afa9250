"""Bounded load test on loopback: events/s through the delivery core against the bare loop, with and without -v.

    python benchmarks/worker_load.py [--events 200] [--concurrency 1]

Publishes SQuAD questions to the local bus and drains it four times in one run: with the worker through the
delivery core (Powertools idempotency on SQLite, ledger, outbox), and with a bare consumer that calls
`Agent.handle` and deletes the message (no idempotency, no ledger: faster than any path that keeps the exactly-once
promise), each with logging at WARNING and at INFO with the verbose format (`-v`). The embedding cache is off, so
every event pays the model as production does. Reports events/s, p50/p99, and the core's throughput as a share of
the bare loop's.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from workbench.bus import LocalBus
from workbench.cli import _fill_log_fields
from workbench.config import AgentConfig
from workbench.delivery import Delivery
from workbench.evaluation.dataset import from_squad
from workbench.events import Event
from workbench.idempotency import SQLitePersistenceLayer
from workbench.ingest.pipeline import ingest
from workbench.ledger import SQLiteLedger
from workbench.loop import Agent
from workbench.worker import Worker
from workbench.workspace import Workspace

CORPUS = Path(__file__).resolve().parent.parent / "datasets" / "squad-v1.1-dev-24" / "dev-v1.1-first24.json"
ARTICLES = ["Super_Bowl_50", "Warsaw", "Oxygen"]


def bare(agent: Agent, bus: LocalBus) -> list[float]:
    latencies = []
    while messages := bus.receive(10, 30):
        for m in messages:
            start = time.perf_counter()
            agent.handle(Event.model_validate_json(m.body))
            bus.delete(m.receipt)
            latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def verbose(on: bool) -> None:
    root = logging.getLogger()
    root.handlers = [logging.StreamHandler(io.StringIO())]  # formatted in full, kept off the terminal
    root.handlers[0].setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s %(config_id)s %(correlation_id)s"))
    root.handlers[0].addFilter(_fill_log_fields)
    root.setLevel(logging.INFO if on else logging.WARNING)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = AgentConfig(name="load")
        cases = from_squad(CORPUS, "acme", per_paragraph=5, articles=ARTICLES).cases[: args.events]
        for run, (path, loud) in enumerate([("bare", False), ("core", False), ("bare", True), ("core", True)]):
            ws = Workspace(Path(tmp) / str(run))
            agent = Agent.from_config(cfg, ws, cache_embeddings=False)
            if run == 0:
                ingest(CORPUS, cfg, Workspace(Path(tmp) / "corpus"), tenant="acme", embedder=agent.embedder, index=agent.index,
                       progress=False, keep=lambda d: d.metadata.get("article") in ARTICLES)
                index = agent.index
            agent.index = index  # one index for every run; state, ledger and outbox fresh per run
            bus = LocalBus(ws.bus)
            for i, case in enumerate(cases):
                bus.publish(json.dumps({"event_id": f"load-{i}", "tenant": "acme", "user_id": f"u{i % 50}", "text": case.turns[0].question}))
            verbose(loud)
            start = time.perf_counter()
            if path == "bare":
                lat = bare(agent, bus)
            else:
                delivery = Delivery(agent, SQLitePersistenceLayer(ws.idempotency), SQLiteLedger(ws.ledger))
                lat = Worker(delivery, bus).run(args.concurrency).latencies_ms
            elapsed = time.perf_counter() - start
            rows[f"{path}{' -v' if loud else ''}"] = {"events": len(lat), "events_per_s": round(len(lat) / elapsed, 1),
                                                       "p50_ms": round(float(np.percentile(lat, 50)), 1),
                                                       "p99_ms": round(float(np.percentile(lat, 99)), 1)}
    rows["core/bare"] = round(rows["core"]["events_per_s"] / rows["bare"]["events_per_s"], 3)
    rows["core/bare -v"] = round(rows["core -v"]["events_per_s"] / rows["bare -v"]["events_per_s"], 3)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
