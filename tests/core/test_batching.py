"""The batched loop: a batch's texts embedded in one model call (and the reasoner's in one more), one Chroma query
per tenant and filter, and every event still settled alone: the per-event decisions, same-user order, duplicates,
a poison record, an embedding failure, and the Lambda handler on an SQS batch (moto)."""

import json
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import event, make_delivery, make_table, sqs_record

from workbench.embedders.hashing import HashingEmbedder
from workbench.ingest.pipeline import ingest
from workbench.loop import Agent
from workbench.serve.bus import LocalBus
from workbench.serve.worker import Worker
from workbench.workspace import Workspace

CORPUS = [
    {
        "id": "sb",
        "title": "Super Bowl",
        "text": "The Denver Broncos defeated the Carolina Panthers to win Super Bowl 50. "
        "The game was played in Santa Clara. Beyonce headlined the halftime show.",
        "metadata": {"tenant": "acme", "topic": "sport"},
    },
    {
        "id": "ox",
        "title": "Oxygen",
        "text": "Oxygen is a chemical element with symbol O and atomic number 8. It is a highly reactive "
        "nonmetal. Oxygen was discovered by Carl Wilhelm Scheele.",
        "metadata": {"tenant": "acme", "topic": "chemistry"},
    },
    {
        "id": "wa",
        "title": "Warsaw",
        "text": "Warsaw is the capital of Poland. The Vistula river flows through Warsaw.",
        "metadata": {"tenant": "beta", "topic": "city"},
    },
]
BATCH = [  # two tenants, a filter, a user twice, a decline, a repeated text
    event("Who won Super Bowl 50?", user="carol", event_id="b1"),
    event("What is the atomic number of oxygen?", user="dave", event_id="b2"),
    event("Where was the game played?", user="carol", event_id="b3"),
    event("Which river flows through the capital of Poland?", tenant="beta", user="erin", event_id="b4"),
    event("Who discovered oxygen?", user="fred", event_id="b5", filter={"topic": "sport"}),
    event("zxqv wvut", user="gina", event_id="b6"),
    event("Who won Super Bowl 50?", user="hank", event_id="b7"),
]


class Counting:
    """The hashing embedder, recording each call's texts: the agent's and the reasoner's model alike."""

    def __init__(self) -> None:
        self.inner, self.calls = HashingEmbedder(384), []
        self.model_id, self.dimension = self.inner.model_id, self.inner.dimension

    def embed(self, texts):
        self.calls.append(list(texts))
        return self.inner.embed(texts)


@pytest.fixture
def index(hashing_config, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps(d) for d in CORPUS))
    ws = Workspace(tmp_path / "index")
    built = Agent.from_config(hashing_config, ws)
    ingest(corpus, hashing_config, ws, embedder=built.embedder, index=built.index, progress=False)
    return built.index


def agent_on(index, cfg, root: Path, embedder=None) -> Agent:
    """An agent with its own state, outbox and decision log in `root`, on the shared index."""
    return Agent.from_config(cfg, Workspace(root), embedder=embedder or Counting(), index=index)


def without_latency(decision: dict) -> dict:
    """The decision without its timings and time: the events carry no timestamp, so each run stamps its arrival."""
    return {k: v for k, v in decision.items() if k not in ("latency_ms", "timestamp")}


def delivered_in_one_batch(delivery, payloads) -> list:
    with delivery.batch([(json.dumps(p), f"message {i}") for i, p in enumerate(payloads)]) as pending:
        return [o for records in pending for o in delivery.deliver_parsed(records)]


def test_a_batch_decides_exactly_as_one_event_at_a_time(index, hashing_config, tmp_path) -> None:
    single = agent_on(index, hashing_config, tmp_path / "single")
    delivery = make_delivery(single, tmp_path / "single")
    one_by_one = [o for i, p in enumerate(BATCH) for o in delivery.deliver(json.dumps(p), f"m{i}")]
    batched = agent_on(index, hashing_config, tmp_path / "batched")
    together = delivered_in_one_batch(make_delivery(batched, tmp_path / "batched"), BATCH)
    assert [o.status for o in together] == ["handled"] * len(BATCH)
    assert [without_latency(o.decision) for o in together] == [without_latency(o.decision) for o in one_by_one]
    assert together[5].decision["declined"] and [h for h, _ in together[4].decision["hits"]] == ["sb#c0"]  # the cases are live
    assert together[3].decision["hits"][0][0] == "wa#c0" and "wa#c0" not in dict(together[0].decision["hits"])

    # One model call for the events' texts (each distinct text once): the reasoner reuses those vectors and the
    # sentence vectors stored at ingest. One event at a time: one call each, and one more (the question again) for
    # each reasoner that does not decline.
    assert batched.embedder.calls == [list(dict.fromkeys(p["text"] for p in BATCH))]
    answered = sum(not o.decision["declined"] for o in one_by_one)
    assert 0 < answered < len(BATCH) and len(single.embedder.calls) == len(BATCH) + answered
    assert all(len(call) == 1 for call in single.embedder.calls)
    stages = together[0].decision["latency_ms"]
    assert {"embed", "retrieve", "prefetch", "reason", "act", "total"} <= set(stages)


def test_one_chroma_query_per_tenant_and_filter(index, hashing_config, tmp_path, monkeypatch) -> None:
    from chromadb.api.models.Collection import Collection

    queried = []
    real = Collection.query
    monkeypatch.setattr(Collection, "query", lambda self, **kw: queried.append(len(kw["query_embeddings"])) or real(self, **kw))
    delivered_in_one_batch(make_delivery(agent_on(index, hashing_config, tmp_path / "w"), tmp_path / "w"), BATCH)
    assert sorted(queried) == [1, 1, 5]  # acme (5 events), acme under b5's filter, beta


def test_a_users_second_event_in_a_batch_sees_the_first(index, hashing_config, tmp_path) -> None:
    agent = agent_on(index, hashing_config, tmp_path / "w")
    outcomes = delivered_in_one_batch(make_delivery(agent, tmp_path / "w"), BATCH)
    assert "user: Who won Super Bowl 50?" in outcomes[2].decision["prompt"]
    assert "Conversation history:\n(none)" in outcomes[1].decision["prompt"]  # dave's history is his own
    history = agent.state.load("acme", "user#carol").history
    assert [(m.role, m.event_id) for m in history] == [("user", "b1"), ("assistant", "b1"), ("user", "b3"), ("assistant", "b3")]


def test_duplicates_in_a_batch_act_once_and_embed_once(index, hashing_config, tmp_path) -> None:
    agent = agent_on(index, hashing_config, tmp_path / "w")
    twice = [BATCH[0], BATCH[1], BATCH[0], {**BATCH[1], "text": "the same event id with other text"}]
    outcomes = delivered_in_one_batch(make_delivery(agent, tmp_path / "w"), twice)
    assert [o.status for o in outcomes] == ["handled", "handled", "duplicate", "duplicate"]
    assert outcomes[2].decision["answer"] == outcomes[0].decision["answer"]
    assert agent.embedder.calls[0] == [BATCH[0]["text"], BATCH[1]["text"], twice[3]["text"]]
    acted = [json.loads(line)["event_id"] for line in (tmp_path / "w" / "outbox.jsonl").read_text().splitlines()]
    assert acted == ["b1", "b2"]
    assert len(agent.state.load("acme", "user#carol").history) == 2


class PoisonReasoner:
    """Fails, every time, on one question; answers the rest as the real reasoner does."""

    def __init__(self, inner, poison: str) -> None:
        self.inner, self.poison = inner, poison

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def reason(self, question, prompt, hits):
        if question == self.poison:
            raise ValueError("poisoned question")
        return self.inner.reason(question, prompt, hits)


def test_a_bad_and_a_failing_record_among_good_ones_are_reported_alone(index, hashing_config, tmp_path) -> None:
    agent = agent_on(index, hashing_config, tmp_path / "w")
    agent.reasoner = PoisonReasoner(agent.reasoner, BATCH[1]["text"])
    bus = LocalBus(tmp_path / "bus.db", max_receives=2)
    for body in [json.dumps(BATCH[0]), "{not json", *(json.dumps(p) for p in BATCH[1:4])]:
        bus.publish(body)
    stats = Worker(make_delivery(agent, tmp_path / "w"), bus, retry_after=0).run()
    # The bad line straight to the DLQ, the failing one twice and then to the DLQ at its receive count: both counted.
    assert (stats.processed, stats.dead_lettered, stats.retried) == (3, 2, 2)
    letters = bus.dead_letters()
    assert sorted(letter["body"][:5] for letter in letters) == ['{"eve', "{not "]
    assert "poisoned question" in next(x["reason"] for x in letters if x["body"].startswith('{"eve'))
    acted = [json.loads(line)["event_id"] for line in (tmp_path / "w" / "outbox.jsonl").read_text().splitlines()]
    assert acted == ["b1", "b3", "b4"]  # each good event once, in order, though its batch had a failure
    assert bus.counts() == {"visible": 0, "in_flight": 0, "dead": 2}


class FailsOnPoison(Counting):
    """A model that fails on any call holding one poison text, so the batch's call fails."""

    failed: list[int] = []

    def embed(self, texts):
        if "zxqv wvut" in texts:
            self.failed = [*self.failed, len(texts)]
            raise RuntimeError(f"model failed on a batch of {len(texts)}")
        return super().embed(texts)


def test_a_failed_batch_embedding_fails_only_the_event_at_fault(index, hashing_config, tmp_path, caplog) -> None:
    single = agent_on(index, hashing_config, tmp_path / "single")
    expected = [
        o.decision
        for i, p in enumerate(BATCH[:5])
        for o in make_delivery(single, tmp_path / "single").deliver(json.dumps(p), f"{i}")
    ]
    agent = agent_on(index, hashing_config, tmp_path / "w", FailsOnPoison())
    outcomes = delivered_in_one_batch(make_delivery(agent, tmp_path / "w"), BATCH[:6])
    assert "batch embedding or retrieval failed" in caplog.text
    assert [o.status for o in outcomes] == ["handled"] * 5 + ["failed"]  # each event embedded alone; the poison fails alone
    assert "model failed on a batch of 1" in outcomes[5].reason
    assert [without_latency(o.decision) for o in outcomes[:5]] == [without_latency(d) for d in expected]
    assert agent.embedder.failed == [6, 1]  # the batch's call, then the poison's own
    assert agent.embedder.calls[0] == [BATCH[0]["text"]]  # then each event embeds alone


def test_a_failed_reasoner_prefetch_leaves_the_reasoner_to_embed_for_itself(index, hashing_config, tmp_path, caplog) -> None:
    single = agent_on(index, hashing_config, tmp_path / "single")
    expected = [
        o.decision for i, p in enumerate(BATCH) for o in make_delivery(single, tmp_path / "single").deliver(json.dumps(p), f"{i}")
    ]
    agent = agent_on(index, hashing_config, tmp_path / "w")

    def broken(batch):
        raise ConnectionError("model unreachable")

    agent.reasoner._part.prefetch = broken
    outcomes = delivered_in_one_batch(make_delivery(agent, tmp_path / "w"), BATCH)
    assert "batch embedding for the reasoner failed" in caplog.text
    assert [without_latency(o.decision) for o in outcomes] == [without_latency(d) for d in expected]
    answered = sum(not d["declined"] for d in expected)
    assert len(agent.embedder.calls) == 1 + answered  # the batch's call, then each reasoner that did not decline


def lambda_records(payloads: list) -> dict:
    return {"Records": [sqs_record(f"m{i}", b if isinstance(b, str) else json.dumps(b)) for i, b in enumerate(payloads)]}


def test_the_lambda_handles_an_sqs_batch_with_one_model_call(aws, index, hashing_config, tmp_path, monkeypatch) -> None:
    from workbench.serve import lambda_handler
    from workbench.serve.ledger import decision_of
    from workbench.state.dynamodb import DynamoDBStateStore

    decisions = make_table(f"dec-{uuid.uuid4().hex[:8]}", "pk", "unused")
    monkeypatch.setenv("IDEMPOTENCY_TABLE", make_table(f"idem-{uuid.uuid4().hex[:8]}", "id", "expiration").name)
    monkeypatch.setenv("DECISION_TABLE", decisions.name)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Test")
    state = DynamoDBStateStore(make_table(f"state-{uuid.uuid4().hex[:8]}", "pk", "expires_at"), 1)
    agent = Agent.from_config(hashing_config, Workspace(tmp_path / "w"), embedder=Counting(), index=index, state=state)
    monkeypatch.setattr(lambda_handler, "agent", lambda: agent)
    lambda_handler.delivery.cache_clear()
    ctx = SimpleNamespace(
        function_name="f",
        memory_limit_in_mb=1024,
        aws_request_id="r",
        invoked_function_arn="arn:aws:lambda:us-east-1:1:function:f",
        get_remaining_time_in_millis=lambda: 20000,
    )
    try:
        result = lambda_handler.handler(lambda_records([*BATCH[:4], "{broken", BATCH[0]]), ctx)
        assert result == {"batchItemFailures": [{"itemIdentifier": "m4"}]}  # the bad record alone
        assert agent.embedder.calls == [
            [p["text"] for p in BATCH[:4]]
        ]  # the reasoner reuses them and the stored sentence vectors
        stored = {i["pk"]: decision_of(i) for i in decisions.scan()["Items"]}
        assert sorted(stored) == ["acme#b1", "acme#b2", "acme#b3", "beta#b4"] and all(
            i["acted"] for i in decisions.scan()["Items"]
        )
        assert "user: Who won Super Bowl 50?" in stored["acme#b3"]["prompt"]
        item = state.table.get_item(Key={"pk": "acme#user#carol"})["Item"]
        assert [m["event_id"] for m in item["history"]] == ["b1", "b1", "b3", "b3"]
        acted = [json.loads(line)["event_id"] for line in (tmp_path / "w" / "outbox.jsonl").read_text().splitlines()]
        assert acted == ["b1", "b2", "b3", "b4"]  # the repeated record was a duplicate
    finally:
        lambda_handler.delivery.cache_clear()


HYBRID_DOCS = [
    {
        "id": "statute",
        "text": "Section 230 of the Communications Decency Act shields platforms.",
        "metadata": {"tenant": "law", "kind": "statute"},
    },
    {
        "id": "essay",
        "text": "Online platforms and speech: an essay on moderation and liability.",
        "metadata": {"tenant": "law", "kind": "essay"},
    },
    {"id": "other", "text": "Shields and armour of medieval knights.", "metadata": {"tenant": "law", "kind": "history"}},
    *(
        {
            "id": f"filler{i}",
            "text": f"Filler document {i} about platforms, knights and section {i}.",
            "metadata": {"tenant": "law", "kind": "filler"},
        }
        for i in range(8)
    ),
]


@pytest.mark.parametrize("method", ["rrf", "weighted", "sparse_dense"])
def test_hybrid_indexes_answer_a_batch_as_each_query_alone(method, hashing_config, workspace, tmp_path) -> None:
    from conftest import ingested_agent

    from workbench.events import Event

    cfg = hashing_config.with_overrides(
        {"retrieval.top_k": 3, "retrieval.hybrid": {"enabled": True, "method": method, "candidates": 3}}
    )
    agent = ingested_agent(cfg, workspace, tmp_path, HYBRID_DOCS)
    events = [
        Event(**event("Section 230", tenant="law")),
        Event(**event("knights and platforms", tenant="law", user="u2")),
        Event(**event("platforms", tenant="law", user="u3", metadata={"keyword": "essay"})),
        Event(**event("section 5 filler", tenant="law", user="u4", filter={"kind": "filler"})),
    ]
    vectors = agent.embedder.embed([e.text for e in events])
    together = agent.retrieve_many(events, vectors)
    assert together == [agent.retrieve(e, v) for e, v in zip(events, vectors)]
    assert together[0][0].id == "statute#c0" and [h.id for h in together[2]] == ["essay#c0"]
    assert {h.metadata["kind"] for h in together[3]} == {"filler"} and all("fusion_score" in h.metadata for h in together[1])


def test_pinecone_runs_a_batch_of_queries_concurrently_with_the_same_answers() -> None:
    import threading

    from pinecone_double import PineconeDouble

    from workbench.indexes.pinecone import PineconeIndex, connect

    double = PineconeDouble(384)
    try:
        index = PineconeIndex(connect(double.host, "pc-test-key"))
        texts = [d["text"] for d in CORPUS]
        model = HashingEmbedder(384)
        index.upsert([d["id"] for d in CORPUS], model.embed(texts), texts, [d["metadata"] for d in CORPUS])
        seen = set()
        real = index.query
        index.query = lambda *a, **kw: seen.add(threading.current_thread().name) or real(*a, **kw)
        vectors = model.embed([e["text"] for e in BATCH])
        together = index.query_many(vectors, 2, "acme", {"topic": {"$in": ["sport", "chemistry"]}})
        assert together == [real(v, 2, "acme", {"topic": {"$in": ["sport", "chemistry"]}}) for v in vectors]
        assert len(seen) > 1 and all(name.startswith("pinecone") for name in seen)  # on the pool's threads
        assert together[0][0].id == "sb" and together[1][0].id == "ox"
    finally:
        double.close()
