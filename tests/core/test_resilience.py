"""Retries with backoff on transient errors only, timeouts on every call, token buckets for back-pressure."""

import time

import pytest

from workbench.config import AgentConfig
from workbench.resilience import TokenBucket, guard


class Downstream:
    def __init__(self, failures: int = 0, error: type[Exception] = ConnectionError, delay: float = 0.0) -> None:
        self.calls, self.failures, self.error, self.delay = 0, failures, error, delay
        self.model_id = "passes-through"

    def reason(self, question, prompt, hits):
        self.calls += 1
        time.sleep(self.delay)
        if self.calls <= self.failures:
            raise self.error("flaky")
        return "ok"


def policy(**kw):
    return AgentConfig(resilience={"base_delay_s": 0.001, "max_delay_s": 0.01, **kw}).resilience


def test_transient_errors_are_retried_then_succeed() -> None:
    down = Downstream(failures=2)
    assert guard(down, "reasoner", policy(max_attempts=3)).reason("q", "p", []) == "ok"
    assert down.calls == 3


def test_retries_stop_at_max_attempts_and_raise() -> None:
    down = Downstream(failures=10)
    with pytest.raises(ConnectionError):
        guard(down, "reasoner", policy(max_attempts=4)).reason("q", "p", [])
    assert down.calls == 4


def test_bugs_are_not_retried() -> None:
    down = Downstream(failures=1, error=ValueError)
    with pytest.raises(ValueError):
        guard(down, "reasoner", policy(max_attempts=5)).reason("q", "p", [])
    assert down.calls == 1


def test_every_call_has_a_timeout() -> None:
    down = Downstream(delay=0.5)
    start = time.perf_counter()
    with pytest.raises(TimeoutError, match="reasoner.reason took longer than 0.05s"):
        guard(down, "reasoner", policy(max_attempts=2, timeout_s=0.05)).reason("q", "p", [])
    assert time.perf_counter() - start < 0.45 and down.calls == 2
    assert guard(down, "reasoner", policy()).model_id == "passes-through"  # attributes pass through


class SlowAction:
    """An actuator whose action takes longer than the guard's timeout, counting how many ran at once."""

    def __init__(self, seconds: float, error: Exception | None = None) -> None:
        self.seconds, self.error, self.started, self.running, self.most = seconds, error, 0, 0, 0

    def act(self, decision):
        self.started += 1
        self.running += 1
        self.most = max(self.most, self.running)
        time.sleep(self.seconds)
        self.running -= 1
        if self.error is not None:
            raise self.error


def test_an_action_is_never_abandoned_and_sent_again_beside_itself() -> None:
    """The reviewer's case: a 1 s guard timeout on a 4 s webhook sent the action three times, all delivered."""
    slow = SlowAction(0.3)
    guard(slow, "actuator", policy(max_attempts=3, timeout_s=0.05)).act({})
    assert (slow.started, slow.most) == (1, 1)
    failing = SlowAction(0.01, ConnectionResetError("reset"))  # a failure known to be one is retried, one at a time
    with pytest.raises(ConnectionResetError):
        guard(failing, "actuator", policy(max_attempts=3, timeout_s=0.05)).act({})
    assert (failing.started, failing.most) == (3, 1)


def test_a_permanent_http_status_is_not_retried() -> None:
    from urllib.error import HTTPError

    for code, calls in ((400, 1), (403, 1), (503, 3)):
        down = SlowAction(0, HTTPError("http://hook", code, "status", {}, None))
        with pytest.raises(HTTPError):
            guard(down, "actuator", policy(max_attempts=3)).act({})
        assert down.started == calls, code


def test_token_bucket_limits_the_rate() -> None:
    bucket = TokenBucket(rate=50, burst=5)
    start = time.perf_counter()
    waited = [bucket.acquire() for _ in range(30)]
    elapsed = time.perf_counter() - start
    assert sum(1 for w in waited if w == 0) >= 5  # the burst passes at once
    assert elapsed >= (30 - 5) / 50 * 0.9  # then 50 per second


def test_bulk_ingestion_bypasses_per_call_timeouts(hashing_config, workspace, tmp_path) -> None:
    """A large ingest batch on a slow model must not be timed out and re-embedded by the per-event guard."""
    import json

    from workbench.embedders.hashing import HashingEmbedder
    from workbench.ingest.pipeline import ingest
    from workbench.loop import Agent

    class Slow(HashingEmbedder):
        calls = 0

        def embed(self, texts):
            Slow.calls += 1
            time.sleep(0.3)
            return super().embed(texts)

    cfg = hashing_config.with_overrides({"resilience.timeout_s": 0.1})
    agent = Agent.from_config(cfg, workspace, cache_embeddings=False)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "d", "text": "some text"}))
    slow = guard(Slow(), "embedder", cfg.resilience)
    report = ingest(corpus, cfg, workspace, tenant="acme", embedder=slow, index=agent.index, progress=False)
    assert report.written == 1 and Slow.calls == 2  # the chunk, then its sentences (stored for the reasoner); no retry
    with pytest.raises(TimeoutError):
        slow.embed(["per-event calls still have their timeout"])
