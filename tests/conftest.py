"""Shared fixtures: real components, small data. The real MiniLM model loads once per test process."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import pytest

from workbench.config import AgentConfig
from workbench.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT / "datasets" / "squad-v1.1-dev-24" / "dev-v1.1-first24.json"


@pytest.fixture(autouse=True)
def _no_ambient_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test logs to its own workspace's store, whatever an earlier test or the shell exported."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


@pytest.fixture
def hashing_config() -> AgentConfig:
    """The default pipeline with the test-only hashing embedder: fast, deterministic, no semantics."""
    return AgentConfig(name="unit", embedder={"kind": "hashing"})


@pytest.fixture(scope="session")
def minilm():
    from workbench.embedders.minilm import MiniLMEmbedder

    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def squad_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real SQuAD articles (Super Bowl 50 and Oxygen's first paragraphs), written as a SQuAD file."""
    data = json.loads(SQUAD.read_text())
    keep = [a for a in data["data"] if a["title"] in ("Super_Bowl_50", "Oxygen")]
    for article in keep:
        article["paragraphs"] = article["paragraphs"][:12]
    path = tmp_path_factory.mktemp("squad") / "subset.json"
    path.write_text(json.dumps({"version": "1.1", "data": keep}))
    return path


# Three documents of two tenants, shared by the tests of the loop, escalation, replay and Step Functions.
CORPUS = [
    {
        "id": "ox",
        "title": "Oxygen",
        "text": "Oxygen is a chemical element with symbol O and atomic number 8. It is a highly reactive nonmetal.",
        "metadata": {"tenant": "acme", "topic": "chemistry"},
    },
    {
        "id": "sb",
        "title": "Super Bowl",
        "text": "The Denver Broncos defeated the Carolina Panthers to win Super Bowl 50. The game was played in Santa Clara.",
        "metadata": {"tenant": "acme", "topic": "sport"},
    },
    {
        "id": "secret",
        "title": "Beta plan",
        "text": "Oxygen atomic number 8 is the answer the beta tenant keeps secret.",
        "metadata": {"tenant": "beta", "topic": "chemistry"},
    },
]

HYBRID = {"top_k": 3, "hybrid": {"enabled": True, "method": "sparse_dense", "weight": 0.6, "candidates": 5}}


def _evaluated_export(root: Path, squad_subset: Path, minilm, cfg: AgentConfig, limit: int, with_index: bool):
    """An evaluated run of `cfg` and its exported bundle: (result, run_id, report, workspace, embedder)."""
    import mlflow

    from workbench.deploy.bundle import export_bundle
    from workbench.embedders.cache import CachedEmbedder
    from workbench.lab import tracking
    from workbench.lab.evalsets import DatasetSpec
    from workbench.lab.evaluate import evaluate

    ws = Workspace(root / "ws")
    embedder = CachedEmbedder(minilm, ws.embedding_cache)
    tracking.connect(ws)
    result = evaluate(cfg, DatasetSpec(corpus=squad_subset, limit=limit), ws, embedder=embedder, progress=False)
    run_id = tracking.log_evaluation(result, result.evalset.name, result.evalset.content_hash)
    report = export_bundle(
        tracking.config_of_run(run_id),
        root / "bundle",
        run_id=run_id,
        metrics=mlflow.get_run(run_id).data.metrics,
        index_path=result.index_path if with_index else None,
    )
    return result, run_id, report, ws, embedder


@pytest.fixture(scope="session")
def exported(tmp_path_factory, squad_subset, minilm):
    """The default config (batches of 4: the 8 replayed events fill two), evaluated and exported, shared by every
    test of the bundle: (result, run_id, report)."""
    cfg = AgentConfig(name="exported", retrieval={"top_k": 3}, deploy={"sqs_batch_size": 4})
    return _evaluated_export(tmp_path_factory.mktemp("export"), squad_subset, minilm, cfg, 8, with_index=False)[:3]


@pytest.fixture(scope="session")
def hybrid(tmp_path_factory, squad_subset, minilm):
    """A sparse-dense hybrid config, evaluated and exported with its BM25 parameters: (result, report, workspace, embedder)."""
    result, _, report, ws, embedder = _evaluated_export(
        tmp_path_factory.mktemp("hybrid"), squad_subset, minilm, AgentConfig(name="hybrid", retrieval=HYBRID), 6, with_index=True
    )
    return result, report, ws, embedder


def event(text: str, user: str = "u1", tenant: str = "acme", event_id: str | None = None, **extra) -> dict:
    """A raw event payload; the id defaults to a hash of its content."""
    digest = hashlib.sha256(f"{tenant}/{user}/{text}".encode()).hexdigest()[:12]
    return {"event_id": event_id or f"e-{digest}", "tenant": tenant, "user_id": user, "text": text, **extra}


def sweep_spec(tmp_path: Path, corpus: Path, *, name: str, limit: int, embedder: str = "hashing", **fields) -> Path:
    """A sweep spec YAML over `corpus` (its first `limit` questions), on the base config with `embedder`; `fields`
    are the spec's other keys (grid, search, repeats, ...)."""
    import yaml

    path = tmp_path / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump(
            {"name": name, "base": {"embedder": {"kind": embedder}}, "dataset": {"corpus": str(corpus), "limit": limit}, **fields}
        )
    )
    return path


class Interrupt(Exception):
    """Raised by a test's hook as Ctrl-C would stop a sweep or a search, to test resuming."""


def make_delivery(agent, root):
    """The delivery core over SQLite idempotency records and ledger in `root`, as run-events and the worker use it."""
    from workbench.serve.delivery import Delivery
    from workbench.serve.idempotency import SQLitePersistenceLayer
    from workbench.serve.ledger import SQLiteLedger

    return Delivery(agent, SQLitePersistenceLayer(Path(root) / "idem.db"), SQLiteLedger(Path(root) / "ledger.db"))


def bad_payloads():
    """Hypothesis: payloads no event can come from, of every class that once stopped a run: bytes, JSON nested past the
    parser's depth, integers past its digits, lone surrogates, and well-formed JSON of the wrong shape."""
    from hypothesis import strategies as st

    shapes = st.dictionaries(
        st.text(max_size=8),
        st.recursive(st.none() | st.integers() | st.text(max_size=10), lambda c: st.lists(c, max_size=3), max_leaves=5),
        max_size=5,
    )
    return st.one_of(
        st.binary(max_size=40),
        st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(4301, 6000).map(lambda n: b'{"event_id": ' + b"9" * n + b"}"),
        st.text(max_size=30).map(lambda t: json.dumps({**event("q"), "text": t + "\ud800"}).encode("utf-8", "surrogatepass")),
        shapes.map(lambda d: json.dumps(d).encode()),
    )


EMBEDDED_TEXTS: list[str] = []


def build_counting_embedder(ctx):
    """Registry factory for tests: the hashing embedder, recording every text the model is asked to embed."""
    from workbench.embedders.hashing import HashingEmbedder

    class Counting(HashingEmbedder):
        def embed(self, texts):
            EMBEDDED_TEXTS.extend(texts)
            return super().embed(texts)

    return Counting(ctx.own("embedder").dimension)


# Shaped like MiniLM on this CPU: its time is nearly proportional to the text, with little fixed cost per call.
MODEL_MS_PER_CALL, MODEL_MS_PER_CHAR = 2.0, 0.03


class VirtualClock:
    """A perf_counter that only the `timed` model moves (by its model time): with it in the loop and the cache,
    every step but the model takes no time, so latency accounting is checked exactly, whatever the machine's load."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def perf_counter(self) -> float:
        return self.seconds


VIRTUAL_CLOCK: VirtualClock | None = None  # set by the `virtual_clock` fixture


def build_timed_embedder(ctx):
    """Registry factory for tests: the hashing embedder with a model time (MODEL_MS_PER_CALL plus MODEL_MS_PER_CHAR
    a character) that is a sleep, or a step of the virtual clock when a test runs on one."""
    import time

    from workbench.embedders.hashing import HashingEmbedder

    class Timed(HashingEmbedder):
        def embed(self, texts):
            seconds = (MODEL_MS_PER_CALL + MODEL_MS_PER_CHAR * sum(len(t) for t in texts)) / 1000
            if VIRTUAL_CLOCK is None:
                time.sleep(seconds)
            else:
                VIRTUAL_CLOCK.seconds += seconds
            return super().embed(texts)

    return Timed(ctx.own("embedder").dimension)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# moto's own `moto_server` is threaded, and its conditional writes are then not atomic (two puts conditioned on
# the same version can both succeed), where DynamoDB's are. Serving one request at a time restores the contract
# under test; everything else is moto_server as shipped.
MOTO_SERIAL = (
    "import sys; from werkzeug.serving import run_simple; "
    "from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app; "
    "run_simple('127.0.0.1', int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False)"
)


@contextlib.contextmanager
def serving(name: str, args: list[str], port: int, timeout: float = 90, log: Path | None = None, env: dict | None = None):
    """Run a real server process (`args`, extra `env`) until the block ends; ready when `port` on loopback accepts
    connections. Its output goes to `log` (shown when it fails to start), or nowhere. It runs in a process group of its
    own, stopped as a whole: a server's workers (mlflow's uvicorn) go with it."""
    import os
    import signal
    import socket
    import subprocess
    import time

    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True)
    deadline = time.time() + timeout
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    tail = log.read_text(errors="replace")[-2000:] if log else ""
                    raise RuntimeError(f"{name} did not start on port {port}: {tail}") from None
                time.sleep(0.2)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if log:
            out.close()


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real moto server (DynamoDB, SQS, SNS, Secrets Manager) on loopback, started and stopped by the tests."""
    import sys

    port = _free_port()
    # MOTO_PORT: the state machines moto executes (tests/serve/test_step_functions.py) call this server, not port 5000.
    with serving("moto_server", [sys.executable, "-c", MOTO_SERIAL, str(port)], port, timeout=30, env={"MOTO_PORT": str(port)}):
        yield f"http://127.0.0.1:{port}"


AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def aws(moto_endpoint, monkeypatch):
    """boto3 pointed at the moto server for this test."""
    for key, value in {**AWS_ENV, "AWS_ENDPOINT_URL": moto_endpoint}.items():
        monkeypatch.setenv(key, value)
    return moto_endpoint


def make_table(name: str, key: str, ttl: str):
    import boto3

    client = boto3.client("dynamodb")
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
    )
    client.update_time_to_live(TableName=name, TimeToLiveSpecification={"AttributeName": ttl, "Enabled": True})
    return boto3.resource("dynamodb").Table(name)


@pytest.fixture
def http_sink():
    """A real HTTP server on loopback recording (path, headers, body) of every POST; /fail answers 500, /slow waits 1 s."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[tuple[str, dict, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append((self.path, dict(self.headers), json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            if self.path == "/slow":
                time.sleep(1.0)
            self.send_response(500 if self.path == "/fail" else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()


def ingested_agent(cfg, workspace, tmp_path, docs):
    """An agent from `cfg` whose index holds `docs` (JSONL records), ingested through the real pipeline."""
    from workbench.ingest.pipeline import ingest
    from workbench.loop import Agent

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps(d) for d in docs))
    agent = Agent.from_config(cfg, workspace)
    ingest(corpus, cfg, workspace, embedder=agent.embedder, index=agent.index, progress=False)
    return agent


def sqs_record(message_id: str, body: str, group: str | None = None) -> dict:
    """One SQS record as a Lambda's event carries it (a FIFO queue's when `group` is given)."""
    queue = "arn:aws:sqs:us-east-1:1:events.fifo" if group else "arn:aws:sqs:us-east-1:1:events"
    return {
        "messageId": message_id,
        "receiptHandle": "r",
        "body": body,
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue,
        "awsRegion": "us-east-1",
        "messageAttributes": {},
        "attributes": {"MessageGroupId": group, "MessageDeduplicationId": message_id} if group else {},
    }
