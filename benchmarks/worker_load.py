"""Bounded load test on loopback: events/s of the worker's batched path against its per-event path, in one run.

    python benchmarks/worker_load.py [--events 300] [--concurrency 1] [--rounds 3] [--order paragraph|shuffled]
                                     [--paths per-event,batched] [--verbose-too]

Publishes SQuAD questions to the local bus and drains it through the delivery core (Powertools idempotency on
SQLite, ledger, outbox) with the worker handling each message on its own (`per-event`, the path before batching)
and with the worker embedding and retrieving for each received batch of 10 at once (`batched`). `bare` adds a
consumer that calls `Agent.handle` and deletes the message (no idempotency, no ledger). The events are split into
`--rounds`; every round drains its share through each path in turn (alternating which goes first), each path on
its own workspace, so load from other processes on the machine falls on all paths alike. The embedding cache is
off, so every event pays the model as in the Lambda. `--order paragraph` publishes the questions of one SQuAD
paragraph one after the other (a batch then retrieves overlapping passages); `shuffled` mixes them.

Latency is from the receive of an event's batch to its outcome (so the wait behind the batch's other events is in
it, on both paths); for `bare`, the handling of the message alone. Reports events/s, p50/p99, model calls and texts
embedded per event, the mean time per event of each stage (from the decision log; a batched event's embed,
retrieve and prefetch are its share of its batch's) and the rest (the delivery core's idempotency and ledger
writes, the bus, acting), the throughput ratios between the paths (per-event / bare is what the delivery core
costs), and what a SQLite commit costs with and without an fsync
(`synchronous` FULL and NORMAL; the local stores use NORMAL).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import random
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from workbench.cli import _fill_log_fields
from workbench.config import AgentConfig
from workbench.decisionlog.jsonl import read_log
from workbench.embedders.minilm import MiniLMEmbedder
from workbench.events import Event
from workbench.ingest.pipeline import ingest
from workbench.lab.evalsets import from_squad
from workbench.loop import Agent
from workbench.resilience import guard
from workbench.serve.bus import LocalBus
from workbench.serve.delivery import Delivery
from workbench.serve.idempotency import SQLitePersistenceLayer
from workbench.serve.ledger import SQLiteLedger
from workbench.serve.worker import Worker
from workbench.workspace import Workspace

CORPUS = Path(__file__).resolve().parent.parent / "datasets" / "squad-v1.1-dev-24" / "dev-v1.1-first24.json"
ARTICLES = ["Super_Bowl_50", "Warsaw", "Oxygen"]
PATHS = ("bare", "per-event", "batched")
STAGES = ("embed", "retrieve", "prefetch", "load_state", "build_prompt", "reason", "persist_state")


class CountingModel:
    """MiniLM, counting the calls and texts it is asked for (the agent's embedder and the reasoner's alike)."""

    def __init__(self, model: MiniLMEmbedder) -> None:
        self.model, self.model_id, self.dimension = model, model.model_id, model.dimension
        self.calls = self.texts = 0

    def embed(self, texts):
        self.calls, self.texts = self.calls + 1, self.texts + len(texts)
        return self.model.embed(texts)


def bare(agent: Agent, bus: LocalBus) -> list[float]:
    latencies = []
    while messages := bus.receive(10, 30):
        for m in messages:
            start = time.perf_counter()
            agent.handle(Event.model_validate_json(m.body))
            bus.delete(m.receipt)
            latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def commit_ms(folder: Path, synchronous: str, n: int = 200) -> float:
    """Mean time of a one-row commit in WAL mode, as the local stores make them."""
    db = sqlite3.connect(folder / f"commits-{synchronous}.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    start = time.perf_counter()
    for i in range(n):
        db.execute("INSERT INTO t VALUES (?, ?)", (i, "x" * 500))
    return round((time.perf_counter() - start) * 1000 / n, 3)


def verbose(on: bool) -> None:
    root = logging.getLogger()
    root.handlers = [logging.StreamHandler(io.StringIO())]  # formatted in full, kept off the terminal
    root.handlers[0].setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s %(config_id)s %(correlation_id)s")
    )
    root.handlers[0].addFilter(_fill_log_fields)
    root.setLevel(logging.INFO if on else logging.WARNING)


class Run:
    """One path at one log level, on its own workspace: state, ledger, outbox and bus persist across rounds."""

    def __init__(
        self, path: str, loud: bool, root: Path, cfg: AgentConfig, model: CountingModel, index, concurrency: int
    ) -> None:
        self.path, self.loud, self.model, self.concurrency = path, loud, model, concurrency
        self.name = f"{path}{' -v' if loud else ''}"
        self.ws = ws = Workspace(root)
        self.agent = Agent.from_config(cfg, ws, cache_embeddings=False, embedder=model, index=index)
        self.agent.embedder = guard(model, "embedder", cfg.resilience)  # as from_config guards its own
        self.bus = LocalBus(ws.bus)
        self.delivery = Delivery(self.agent, SQLitePersistenceLayer(ws.idempotency), SQLiteLedger(ws.ledger))
        self.latencies: list[float] = []
        self.elapsed = 0.0
        self.calls = self.texts = 0

    def drain(self, events: list[str]) -> None:
        for body in events:
            self.bus.publish(body)
        verbose(self.loud)
        calls, texts, start = self.model.calls, self.model.texts, time.perf_counter()
        if self.path == "bare":
            self.latencies += bare(self.agent, self.bus)
        else:
            worker = Worker(self.delivery, self.bus, batched=self.path == "batched")
            self.latencies += worker.run(self.concurrency).latencies_ms
        self.elapsed += time.perf_counter() - start
        self.calls, self.texts = self.calls + self.model.calls - calls, self.texts + self.model.texts - texts

    def row(self) -> dict:
        n = len(self.latencies)
        logged = [d["latency_ms"] for d in read_log(self.ws.decisions)]  # written before acting: no `act` stage
        stages = {s: round(float(np.mean([d.get(s, 0.0) for d in logged])), 1) for s in STAGES}
        stages["rest"] = round(self.elapsed * 1000 / n - sum(stages.values()), 1)  # the delivery core, the bus, acting
        return {
            "events": n,
            "events_per_s": round(n / self.elapsed, 2),
            "p50_ms": round(float(np.percentile(self.latencies, 50)), 1),
            "p99_ms": round(float(np.percentile(self.latencies, 99)), 1),
            "model_calls_per_event": round(self.calls / n, 2),
            "texts_embedded_per_event": round(self.texts / n, 1),
            "ms_per_event": stages,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="alternate the paths this many times over the events")
    parser.add_argument("--order", choices=["paragraph", "shuffled"], default="paragraph")
    parser.add_argument("--paths", default="per-event,batched", help=f"comma-separated, of {', '.join(PATHS)}")
    parser.add_argument("--verbose-too", action="store_true", help="also run every path with logging at INFO (-v)")
    args = parser.parse_args()
    paths = args.paths.split(",")
    if not set(paths) <= set(PATHS) or not paths or args.events < args.rounds or args.rounds < 1:
        parser.error(f"--paths takes some of {', '.join(PATHS)}; --events must be at least --rounds (>= 1)")
    cfg = AgentConfig(name="load")
    cases = from_squad(CORPUS, "acme", per_paragraph=5, articles=ARTICLES).cases[: args.events]
    bodies = [
        json.dumps({"event_id": f"load-{i}", "tenant": "acme", "user_id": f"u{i % 50}", "text": c.turns[0].question})
        for i, c in enumerate(cases)
    ]
    if args.order == "shuffled":
        random.Random(17).shuffle(bodies)
    with tempfile.TemporaryDirectory() as tmp:
        model = CountingModel(MiniLMEmbedder())
        indexer = Agent.from_config(cfg, Workspace(Path(tmp) / "corpus"), cache_embeddings=False, embedder=model)
        ingest(
            CORPUS,
            cfg,
            Workspace(Path(tmp) / "corpus"),
            tenant="acme",
            embedder=model,
            index=indexer.index,
            progress=False,
            keep=lambda d: d.metadata.get("article") in ARTICLES,
        )
        runs = [
            Run(p, loud, Path(tmp) / f"{p}-{loud}", cfg, model, indexer.index, args.concurrency)
            for loud in ([False, True] if args.verbose_too else [False])
            for p in paths
        ]
        share = -(-len(bodies) // args.rounds)
        for r in range(args.rounds):
            for run in runs if r % 2 == 0 else runs[::-1]:
                run.drain(bodies[r * share : (r + 1) * share])
        rows = {run.name: run.row() for run in runs}
        rows["sqlite_commit_ms"] = {mode: commit_ms(Path(tmp), mode) for mode in ("FULL", "NORMAL")}
    rate = {run.name: len(run.latencies) / run.elapsed for run in runs}
    for suffix in ("", " -v"):
        for path, base in (("batched", "per-event"), ("per-event", "bare"), ("batched", "bare")):
            if f"{path}{suffix}" in rate and f"{base}{suffix}" in rate:
                rows[f"{path}/{base}{suffix}"] = round(rate[f"{path}{suffix}"] / rate[f"{base}{suffix}"], 3)
    print(
        json.dumps(
            {"events": len(bodies), "concurrency": args.concurrency, "rounds": args.rounds, "order": args.order, **rows}, indent=2
        )
    )


if __name__ == "__main__":
    main()
