"""The LLM path end to end against the OpenAI-compatible TEST DOUBLE (tests/openai_double.py): the LangChain reasoner
through langchain-openai, and ragas's LLM-judged metrics through `--judge openai:MODEL`, cached and failure-counted."""

import math

import pytest
from conftest import event, ingested_agent
from openai_double import OpenAIDouble

from workbench.config import AgentConfig
from workbench.events import Event
from workbench.lab.evalsets import DatasetSpec
from workbench.lab.evaluate import evaluate
from workbench.lab.scorers.ragas_metrics import JUDGED

LLM = {"kind": "langchain", "provider": "openai", "model": "gpt-4o-mini"}
DOCS = [
    {
        "id": "ox",
        "title": "Oxygen",
        "text": "Oxygen has atomic number 8. It is a reactive nonmetal.",
        "metadata": {"tenant": "acme"},
    },
    {
        "id": "sb",
        "title": "Super Bowl",
        "text": "The Denver Broncos won Super Bowl 50. It was played in Santa Clara.",
        "metadata": {"tenant": "acme"},
    },
]


@pytest.fixture
def double(monkeypatch):
    with OpenAIDouble() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "test-double-key")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


def test_the_langchain_reasoner_sends_the_prompt_and_reads_answer_citations_and_tokens(double, workspace, tmp_path) -> None:
    agent = ingested_agent(AgentConfig(embedder={"kind": "hashing"}, reasoner=LLM), workspace, tmp_path, DOCS)
    d = agent.handle(Event(**event("What is the atomic number of oxygen?")))
    [sent] = double.chat_requests()
    assert sent["model"] == "gpt-4o-mini" and sent["messages"] == [{"role": "user", "content": d.prompt}]
    assert d.answer == "Oxygen has atomic number 8. [ox#c0]" and d.citations == ("ox#c0",)
    assert d.tokens == {"input_tokens": len(d.prompt.split()), "output_tokens": len(d.answer.split())}


def test_429_and_5xx_are_retried_by_the_sdk_then_by_the_guard(double, workspace, tmp_path) -> None:
    agent = ingested_agent(AgentConfig(embedder={"kind": "hashing"}, reasoner=LLM), workspace, tmp_path, DOCS)
    double.fail_next(503)
    assert agent.handle(Event(**event("Who won Super Bowl 50?", user="u1"))).citations == ("sb#c0",)
    assert len(double.chat_requests()) == 2  # the SDK's own retry
    double.fail_next(429, times=4)  # more than the SDK's two retries: its RateLimitError reaches the guard, which retries
    assert agent.handle(Event(**event("Who won Super Bowl 50?", user="u2"))).citations == ("sb#c0",)
    assert len(double.chat_requests()) == 2 + 5
    double.fail_next(400, times=1)  # a bad request is not transient: not retried, the event fails loudly
    with pytest.raises(Exception, match="400"):
        agent.handle(Event(**event("Who won Super Bowl 50?", user="u3")))
    assert len(double.chat_requests()) == 2 + 5 + 1


def test_the_reasoner_is_rate_limited(double, workspace, tmp_path) -> None:
    import time

    cfg = AgentConfig(embedder={"kind": "hashing"}, reasoner=LLM, resilience={"rate_per_s": {"reasoner": 4}})
    agent = ingested_agent(cfg, workspace, tmp_path, DOCS)
    start = time.monotonic()
    for i in range(8):
        agent.handle(Event(**event(f"Who won Super Bowl 50? ({i})")))
    # A burst of 4, then 4 a second: the bucket holds the last four back about a second (a lower bound, so load cannot break it).
    assert time.monotonic() - start >= 0.9 and len(double.chat_requests()) == 8


def test_evaluation_with_the_llm_reasoner_prices_its_tokens(double, squad_subset, workspace) -> None:
    cfg = AgentConfig(embedder={"kind": "hashing"}, reasoner=LLM)
    result = evaluate(cfg, DatasetSpec(corpus=squad_subset, limit=3), workspace, metrics=["token_f1"], progress=False)
    table = result.table
    assert (table["input_tokens"] > 0).all() and (table["output_tokens"] > 0).all()
    price = cfg.pricing
    expected = (
        (
            table["input_tokens"].mean() * price.llm_input_per_1k_tokens
            + table["output_tokens"].mean() * price.llm_output_per_1k_tokens
        )
        / 1000
        * 1_000_000
    )
    assert result.metrics["cost_llm"] == pytest.approx(expected, abs=1e-3) and result.metrics["cost_llm"] > 0
    assert result.metrics["llm_token_usage"] == pytest.approx((table["input_tokens"] + table["output_tokens"]).mean())


def test_judged_metrics_run_and_a_second_evaluation_makes_no_judge_call(double, squad_subset, workspace) -> None:
    cfg = AgentConfig(embedder={"kind": "hashing"})
    spec = DatasetSpec(corpus=squad_subset, limit=3)
    first = evaluate(cfg, spec, workspace, judge="openai:gpt-4o-mini", progress=False).metrics
    for name in JUDGED:
        assert 0.0 <= first[name] <= 1.0 and first[f"{name}_failures"] == 0, (name, first)
    assert first["faithfulness"] == 1.0  # the double upholds every statement
    assert first["judge_failures"] == 0 and first["judge_calls"] > 0
    calls = len(double.chat_requests())
    assert calls == first["judge_calls"]
    second = evaluate(cfg, spec, workspace, judge="openai:gpt-4o-mini", progress=False).metrics
    assert len(double.chat_requests()) == calls and second["judge_calls"] == 0
    assert second["judge_cache_hits"] == first["judge_calls"]
    assert {n: second[n] for n in JUDGED} == {n: first[n] for n in JUDGED}
    repeated = evaluate(cfg, spec, workspace, judge="openai:gpt-4o-mini", progress=False, repeats=3).metrics
    assert repeated["judge_cache_hits"] == first["judge_calls"]  # three repeats of one answer: the judge is asked once
    other = evaluate(cfg, spec, workspace, judge="openai:gpt-4.1-mini", metrics=["faithfulness"], progress=False).metrics
    assert other["judge_calls"] > 0  # another model never reads the first one's answers


def test_a_judge_that_returns_malformed_json_is_counted_not_scored(double, squad_subset, workspace) -> None:
    double.malformed = True
    cfg = AgentConfig(embedder={"kind": "hashing"})
    result = evaluate(cfg, DatasetSpec(corpus=squad_subset, limit=3), workspace, judge="openai:gpt-4o-mini", progress=False)
    for name in JUDGED:
        assert name not in result.metrics  # not 0
        assert result.metrics[f"{name}_failures"] == 3 and result.metrics[f"{name}_failure_rate"] == 1.0
        assert result.table[name].map(math.isnan).all() and (result.table[f"{name}_failed"] == 1).all()
    assert result.metrics["judge_failures"] == 12 and result.metrics["judge_failure_rate"] == 1.0
    assert result.table["judge_errors"].str.contains("faithfulness: ").all()


def test_a_judge_that_times_out_is_counted(double, squad_subset, workspace, monkeypatch) -> None:
    from workbench.lab.scorers import judge

    monkeypatch.setattr(judge, "JUDGE_TIMEOUT_S", 0.3)
    double.delay_s = 1.0
    cfg = AgentConfig(embedder={"kind": "hashing"})
    result = evaluate(
        cfg,
        DatasetSpec(corpus=squad_subset, limit=2),
        workspace,
        judge="openai:gpt-4o-mini",
        metrics=["faithfulness"],
        progress=False,
    )
    assert result.metrics["faithfulness_failures"] == 2 and "faithfulness" not in result.metrics
    assert result.table["judge_errors"].str.contains("timed out").all()
