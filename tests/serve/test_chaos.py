"""Chaos: worker processes SIGKILLed at random, backend faults, duplicate deliveries, and two tenants that use the
same event ids, user ids and document ids. Each (tenant, event_id) acts exactly once in the outbox, the state and
the decision log, and no tenant ever reads another's history or documents."""

import json
import os
import random
import signal
import subprocess
import sys
import time

from conftest import event

from workbench.config import AgentConfig
from workbench.ingest.pipeline import ingest
from workbench.loop import Agent
from workbench.serve.bus import LocalBus
from workbench.workspace import Workspace

CONFIG = {"embedder": {"kind": "hashing"}, "state": {"max_turns": 500}, "resilience": {"max_attempts": 1}}
TENANTS = ("tenant-a", "tenant-b")

DRIVER = """
import json, random, sys, time
from pathlib import Path
from workbench.serve.bus import LocalBus
from workbench.config import AgentConfig
from workbench.serve.delivery import Delivery
from workbench.serve.idempotency import SQLitePersistenceLayer
from workbench.serve.ledger import SQLiteLedger
from workbench.loop import Agent
from workbench.serve.worker import Worker
from workbench.workspace import Workspace

root, seed = Path(sys.argv[1]), int(sys.argv[2])
agent = Agent.from_config(AgentConfig.model_validate(json.loads(sys.argv[3])), Workspace(root))
rng = random.Random(seed)

def faulty(call, rate):
    def wrapped(*args):
        time.sleep(0.005)  # long enough to be killed mid-event
        if rng.random() < rate:
            raise ConnectionError("injected fault")
        return call(*args)
    return wrapped

agent.reasoner.reason = faulty(agent.reasoner.reason, 0.1)
agent.actuator.act = faulty(agent.actuator.act, 0.1)
delivery = Delivery(agent, SQLitePersistenceLayer(root / "idempotency.sqlite"), SQLiteLedger(root / "ledger.sqlite"))
Worker(delivery, LocalBus(root / "bus.sqlite", max_receives=50), visibility_timeout=1, retry_after=0.05).run(2)
"""


def test_chaos_every_event_once_and_tenants_apart(tmp_path) -> None:
    root = tmp_path / "ws"
    cfg = AgentConfig.model_validate(CONFIG)
    agent = Agent.from_config(cfg, Workspace(root))
    for tenant in TENANTS:  # the same document ids in both tenants, with each tenant's own words
        corpus = tmp_path / f"{tenant}.jsonl"
        corpus.write_text(
            "\n".join(
                json.dumps({"id": f"doc{i}", "text": f"{tenant} private fact number {i} about topic {i}"}) for i in range(5)
            )
        )
        ingest(corpus, cfg, Workspace(root), tenant=tenant, embedder=agent.embedder, index=agent.index, progress=False)
    bus = LocalBus(root / "bus.sqlite", max_receives=50)
    published = [
        event(f"{t} asks about topic {i % 5}?", tenant=t, user=f"user{i % 4}", event_id=f"e{i}")
        for i in range(40)
        for t in TENANTS
    ]
    for e in published + random.Random(0).sample(published, 20):  # and 20 duplicate deliveries
        bus.publish(json.dumps(e))

    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    start = lambda seed: subprocess.Popen([sys.executable, "-c", DRIVER, str(root), str(seed), json.dumps(CONFIG)], env=env)  # noqa: E731
    rng, workers, seed = random.Random(1), [], 0
    deadline = time.time() + 240
    while bus.counts()["visible"] + bus.counts()["in_flight"] and time.time() < deadline:
        workers = [w for w in workers if w.poll() is None]
        while len(workers) < 3:
            seed += 1
            workers.append(start(seed))
        time.sleep(rng.uniform(1.0, 3.0))
        if seed < 12:  # a bounded number of kills, then let the survivors drain the queue
            rng.choice(workers).send_signal(signal.SIGKILL)
    for w in workers:
        w.kill()
        w.wait()
    subprocess.run(
        [sys.executable, "-c", DRIVER.replace("0.1)", "0.0)"), str(root), "0", json.dumps(CONFIG)],
        env=env,
        check=True,
        timeout=300,
    )
    assert seed >= 6  # workers really were killed and restarted
    assert bus.counts() == {"visible": 0, "in_flight": 0, "dead": 0}

    expected = sorted((e["tenant"], e["event_id"]) for e in published)
    outbox = [json.loads(line) for line in (root / "outbox.jsonl").read_text().splitlines()]
    assert sorted((o["tenant"], o["event_id"]) for o in outbox) == expected  # acted on exactly once
    logged = [json.loads(line) for line in (root / "decisions.jsonl").read_text().splitlines()]
    assert sorted((d["tenant"], d["event_id"]) for d in logged) == expected  # recorded exactly once
    turns = [
        (t, m.event_id)
        for t in TENANTS
        for u in range(4)
        for m in agent.state.load(t, f"user#user{u}").history
        if m.role == "user"
    ]
    assert sorted(turns) == expected  # one turn each in state

    for d in logged:  # each tenant reads its own documents, and never another's documents or history
        other = next(t for t in TENANTS if t != d["tenant"])
        assert d["contexts"] and all(d["tenant"] in text for text in d["contexts"])
        assert other not in d["prompt"]
