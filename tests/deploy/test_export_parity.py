"""A sparse-dense hybrid config, evaluated, exported and replayed through the bundle's handler (moto + the Pinecone
double): the same chunk ids in the same order, the same answers, the same prompts and the same multi-turn history
as the workbench's own agent on the evaluated index."""

import json

import pytest
from bundle_driver import aws_tables, results_and_outbox, run_handler
from conftest import event
from pinecone_double import PineconeDouble

from workbench.deploy.bundle import export_bundle
from workbench.deploy.pinecone_loader import load_into_pinecone
from workbench.errors import ExportError
from workbench.events import Event
from workbench.indexes.pinecone import connect
from workbench.ingest.chunking import doc_id_of

pytestmark = pytest.mark.xdist_group("bundle")  # the session's exported bundles are built once, on one worker

AT = "2024-05-01T12:00:00+00:00"
CONVERSATION = ["Who won Super Bowl 50?", "Where was the game played?", "What is oxygen's atomic number?"]


def test_bundle_ships_the_fitted_bm25_parameters_and_a_dotproduct_index(hybrid, tmp_path) -> None:
    result, report, _, _ = hybrid
    shipped = json.loads((report.out / "bm25" / "acme.json").read_text())
    local = json.loads((result.index_path / "bm25" / result.config.index.collection / "acme.json").read_text())
    assert shipped == local and shipped["bm25"]["n_docs"] > 0
    assert json.loads((report.out / "pinecone_index.json").read_text())["metric"] == "dotproduct"
    assert (report.out / "workbench" / "indexes" / "sparse" / "stopwords_en.txt").exists()
    assert "mmh3==" in (report.out / "requirements.txt").read_text()
    assert "COPY bm25" in (report.out / "Dockerfile").read_text()
    with pytest.raises(ExportError, match="export from an evaluated run"):
        export_bundle(result.config, tmp_path / "b", check_model=False)


def test_hybrid_replay_through_the_bundle_matches_the_workbench(hybrid, aws, tmp_path) -> None:
    from workbench.indexes.chroma import ChromaIndex
    from workbench.lab.sandbox import sandboxed_agent

    result, report, ws, embedder = hybrid
    cfg = result.config
    questions = [(f"parity-{i}", q) for i, q in enumerate(result.table["question"])]
    singles = [event(q, user=mid, event_id=mid, timestamp=AT) for mid, q in questions]
    singles.append(
        event(
            "Who proved that air is necessary for combustion?",
            user="f",
            event_id="filtered",
            timestamp=AT,
            filter={"article": {"$eq": "Super_Bowl_50"}},
        )
    )  # an evaluation case's filter, on the event
    turns = [event(q, user="carol", event_id=f"carol-{t}", timestamp=AT) for t, q in enumerate(CONVERSATION)]

    with sandboxed_agent(cfg, ws, embedder=embedder, index=ChromaIndex(result.index_path, cfg.index)) as agent:
        local = {e["event_id"]: agent.handle(Event(**e)).to_dict() for e in singles + turns}
        local_history = agent.state.load("acme", "user#carol").history

    tables = aws_tables()
    double = PineconeDouble(cfg.embedder.dimension, metric="dotproduct")
    try:
        load_into_pinecone(ChromaIndex(result.index_path, cfg.index), cfg, connect(double.host, "pc-test-key"), progress=False)
        assert all("sparseValues" in r for r in double.namespaces["acme"].values())
        batches = [{"Records": [{"messageId": e["event_id"], "body": json.dumps(e)} for e in singles]}]
        batches += [{"Records": [{"messageId": e["event_id"], "body": json.dumps(e)}]} for e in turns]  # one turn per delivery
        proc = run_handler(report.out, batches, aws, tables, double.host, tmp_path)
    finally:
        double.close()
    results, outbox = results_and_outbox(proc)
    assert all(r == {"batchItemFailures": []} for r in results) and len(outbox) == len(local)
    # The decision table holds each decision whole: hits with scores, prompt, answer.
    from workbench.serve.ledger import decision_of

    cloud = {i["pk"].removeprefix("acme#"): decision_of(i) for i in tables["decisions"].scan()["Items"]}
    assert set(cloud) == set(local)

    for eid, want in local.items():
        got = cloud[eid]
        assert [h for h, _ in got["hits"]] == [h for h, _ in want["hits"]], eid  # same chunks, same order
        assert [s for _, s in got["hits"]] == pytest.approx([s for _, s in want["hits"]], abs=1e-4)  # ONNX vs torch
        assert got["answer"] == want["answer"] and got["prompt"] == want["prompt"], eid
    # ... which are the evaluated run's own results.
    for (mid, _), row in zip(questions, result.table.itertuples()):
        assert list(dict.fromkeys(doc_id_of(h) for h, _ in cloud[mid]["hits"])) == list(row.retrieved)
        assert cloud[mid]["answer"] == row.answer
    assert {o["event_id"]: o["hits"] for o in outbox} == {e: [h for h, _ in d["hits"]] for e, d in cloud.items()}
    assert all(h.startswith("Super_Bowl_50") for h, _ in cloud["filtered"]["hits"])  # the event's filter reached Pinecone
    assert "user: Who won Super Bowl 50?" in cloud["carol-2"]["prompt"]  # history is in the prompt, as locally

    item = tables["state"].get_item(Key={"pk": "acme#user#carol"})["Item"]
    assert [(m["role"], m["content"], m["event_id"], m["declined"]) for m in item["history"]] == [
        (m.role, m.content, m.event_id, m.declined) for m in local_history
    ]
    assert len(local_history) == 2 * len(CONVERSATION)
