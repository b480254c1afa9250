"""Eval-set formats: SQuAD, BEIR, the workbench JSONL, and the dataset spec."""

import json

import pytest

from workbench.config import AgentConfig
from workbench.errors import EvalSetError
from workbench.lab.aws_usage import Usage
from workbench.lab.cost import cost_per_million_events
from workbench.lab.evalsets import DatasetSpec, from_beir, from_squad, load_evalset


def test_squad_questions_point_at_their_paragraph(squad_subset, tmp_path) -> None:
    evalset = from_squad(squad_subset, tenant="acme", per_paragraph=2)
    first = evalset.cases[0]
    assert first.case_id == "56be4db0acb8001400a502ec"
    assert first.turns[0].relevant == {"Super_Bowl_50#0": 1}
    assert first.turns[0].answers == ["Denver Broncos"]
    assert len(evalset.cases) == 48
    back = load_evalset(evalset.save(tmp_path / "set.jsonl"))
    assert back.cases == evalset.cases and back.content_hash == evalset.content_hash
    assert from_squad(squad_subset, "acme", articles=["Oxygen"]).cases[0].turns[0].relevant == {"Oxygen#0": 1}


def test_beir_qrels_are_graded(tmp_path) -> None:
    (tmp_path / "qrels").mkdir()
    (tmp_path / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "what?"}) + "\n")
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\nq9\td1\t1\n")
    [case] = from_beir(tmp_path, "acme").cases
    assert case.turns[0].relevant == {"d1": 2, "d2": 1} and case.turns[0].answers == []
    with pytest.raises(EvalSetError, match="qrels/dev.tsv: missing"):
        from_beir(tmp_path, "acme", split="dev")


def test_multi_turn_cases_and_bad_lines(tmp_path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(
        json.dumps(
            {
                "case_id": "c",
                "tenant": "acme",
                "user_id": "u",
                "turns": [{"question": "first?", "relevant": {"d": 1}}, {"question": "and then?", "answers": ["x"]}],
            }
        )
        + "\n"
        + json.dumps({"case_id": "d", "tenant": "acme", "user_id": "u", "turns": []})
        + "\n"
    )
    with pytest.raises(EvalSetError, match="line 2: turns"):
        load_evalset(path)
    with pytest.raises(EvalSetError, match="build one with `workbench build-evalset`"):
        load_evalset(tmp_path / "nope.jsonl")
    with pytest.raises(EvalSetError, match="corpus not found"):
        DatasetSpec(corpus=tmp_path / "missing.json").corpus_path()


def test_cost_model_by_hand() -> None:
    cfg = AgentConfig(deploy={"memory_mb": 512}, pricing={"events_per_month": 1_000_000})
    usage = Usage(
        dynamodb_write_units=18, dynamodb_read_units=2, sqs_requests=1.2, sns_requests=1, lambda_requests=0.1, vector_queries=1
    )
    cost = cost_per_million_events(
        cfg,
        usage,
        mean_latency_ms=200,
        mean_input_tokens=400,
        mean_output_tokens=100,
        mean_question_chars=400,
        index_vectors=1000,
    )
    assert cost["cost_lambda"] == pytest.approx(0.5 * 0.2 * 0.0000166667 * 1e6 + 0.1 * 0.20, abs=1e-4)
    storage = 1000 * (384 * 4 + 512) / 1e9 * 0.33
    assert cost["cost_vector"] == pytest.approx(16.0 + storage, abs=1e-4)
    assert cost["cost_dynamodb"] == pytest.approx(18 * 1.25 + 2 * 0.25)
    assert cost["cost_sqs"] == pytest.approx(1.2 * 0.40) and cost["cost_sns"] == pytest.approx(0.50)
    assert cost["cost_step_functions"] == 0
    assert cost["cost_llm"] == pytest.approx((400 * 0.00015 + 100 * 0.0006) * 1000)
    assert cost["cost_embedding"] == 0
    assert cost["cost_per_1m_events"] == pytest.approx(sum(v for k, v in cost.items() if k != "cost_per_1m_events"), abs=1e-3)
    arm = cost_per_million_events(
        AgentConfig(deploy={"memory_mb": 512, "architecture": "arm64", "fifo": True}), usage, 200, 0, 0, 0, 0
    )
    assert arm["cost_lambda"] == pytest.approx(0.5 * 0.2 * 0.0000133334 * 1e6 + 0.1 * 0.20, abs=1e-4)
    assert arm["cost_sqs"] == pytest.approx(1.2 * 0.50) and arm["cost_sns"] == pytest.approx(0.30)
    sfn = cost_per_million_events(cfg, Usage(transitions=4), 0, 0, 0, 0, 0)
    assert sfn["cost_step_functions"] == pytest.approx(4 * 0.025 * 1000)
    assert AgentConfig(pricing={"lambda_gb_second": 1.0}).config_id == AgentConfig().config_id
