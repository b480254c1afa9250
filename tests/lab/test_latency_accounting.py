"""Latency and cost do not depend on evaluation order or cache state: a cache hit is charged the model time
measured when its text was embedded, as the production Lambda (no cache) would pay it.

The model here is the `timed` stand-in (conftest): hashing vectors and a model time that is a sleep, so the
assertions test the accounting rather than the load of a shared two-core machine."""

import hashlib
import sqlite3
from types import SimpleNamespace

import conftest
import numpy as np
import pytest

from workbench.config import AgentConfig
from workbench.embedders.cache import CachedEmbedder
from workbench.lab.evalsets import DatasetSpec
from workbench.lab.evaluate import evaluate
from workbench.registry import BuildContext, register
from workbench.workspace import Workspace

register("embedder", "timed", "conftest:build_timed_embedder")


def timed_model():
    return conftest.build_timed_embedder(BuildContext(AgentConfig(), None))


def model_ms(*texts):
    return conftest.MODEL_MS_PER_CALL + conftest.MODEL_MS_PER_CHAR * sum(len(t) for t in texts)


def test_each_hit_is_charged_the_model_time_measured_for_it(workspace) -> None:
    cache = CachedEmbedder(timed_model(), workspace.embedding_cache)
    short, long = "a short question " * 10, "a longer passage of text " * 40
    cache.embed([short])
    assert cache.computed == 1 and cache.saved_ms == 0
    cache.embed([short, short])  # asked twice: a cache-less model would run on it twice
    charged_short = cache.saved_ms / 2
    assert charged_short >= model_ms(short)
    cache.embed([short, long])  # one hit, one miss: only the hit is charged, the miss is on the caller's clock
    assert cache.saved_ms == pytest.approx(3 * charged_short)
    again = CachedEmbedder(timed_model(), workspace.embedding_cache)  # another process: the times are on disk
    again.embed([long])
    assert again.computed == 0 and again.saved_ms >= model_ms(long) - conftest.MODEL_MS_PER_CALL


def test_a_cache_from_before_compute_times_measures_each_text_once(workspace) -> None:
    model = timed_model()
    with sqlite3.connect(workspace.embedding_cache) as db:  # the layout caches had before they kept times
        db.execute("CREATE TABLE embeddings (model TEXT, key TEXT, vector BLOB, PRIMARY KEY (model, key))")
        db.execute(
            "INSERT INTO embeddings VALUES (?, ?, ?)",
            (model.model_id, hashlib.sha256(b"old").hexdigest(), np.zeros(384, dtype=np.float32).tobytes()),
        )
    cache = CachedEmbedder(model, workspace.embedding_cache)
    cache.embed(["old"])
    cache.embed(["old"])
    assert cache.computed == 1 and cache.saved_ms >= model_ms("old")


def test_the_cache_own_work_is_taken_off_the_stage(workspace, virtual_clock, monkeypatch) -> None:
    """Storing new vectors (or waiting for the cache's lock) is not what a cache-less path pays: a first run is not slow."""
    cache = CachedEmbedder(timed_model(), workspace.embedding_cache)
    store = cache._store

    def slow_disk(items):
        virtual_clock.seconds += 0.050
        store(items)

    monkeypatch.setattr(cache, "_store", slow_disk)
    cache.embed(["a question"])
    assert cache.overhead_ms == pytest.approx(50.0) and cache.saved_ms == 0
    cache.embed(["a question"])  # a hit: the memory layer answers, no work of the cache's own
    assert cache.overhead_ms == pytest.approx(50.0) and cache.saved_ms == pytest.approx(model_ms("a question"))


@pytest.fixture
def virtual_clock(monkeypatch):
    """The loop's stage clock and the cache's clock run on model time alone (conftest.VirtualClock)."""
    from workbench import loop
    from workbench.embedders import cache

    clock = conftest.VirtualClock()
    monkeypatch.setattr(conftest, "VIRTUAL_CLOCK", clock)
    for module in (loop, cache):
        monkeypatch.setattr(module, "time", SimpleNamespace(perf_counter=clock.perf_counter, sleep=lambda s: None))
    return clock


def test_latency_does_not_depend_on_evaluation_order_or_cache_state(tmp_path, squad_subset, virtual_clock) -> None:
    """Exact on the virtual clock; benchmarks/latency_order.py measures the same with real MiniLM and wall time."""
    x = AgentConfig(name="x", embedder={"kind": "timed"})
    y = x.with_overrides({"retrieval.top_k": 10})  # retrieves and embeds everything x will need, and more
    spec = DatasetSpec(corpus=squad_subset, limit=12)
    one, two = Workspace(tmp_path / "one"), Workspace(tmp_path / "two")
    cold = evaluate(x, spec, one, progress=False)
    warm = evaluate(x, spec, one, progress=False)
    evaluate(y, spec, two, progress=False)
    after = evaluate(x, spec, two, progress=False)

    assert warm.embedded == after.embedded == 0 < cold.embedded
    for metric in ("latency_total_p50_ms", "latency_total_p95_ms", "cost_per_1m_events"):
        values = [r.metrics[metric] for r in (cold, warm, after)]
        assert values[0] > 0 and values == pytest.approx([values[0]] * 3, rel=1e-3), (
            f"{metric}: cold, warm, after another config = {values}"
        )
    for stage in ("embed", "reason"):  # stage by stage too: each pays its own texts' model time
        per_stage = [r.table[f"latency_{stage}_ms"].tolist() for r in (cold, warm, after)]
        assert per_stage[0] == pytest.approx(per_stage[1], rel=1e-3) and per_stage[0] == pytest.approx(per_stage[2], rel=1e-3)

    def clock_only(result):  # what the loop's own clock saw, before hits are charged
        return float((result.table["latency_total_ms"] - result.table["replayed_ms"]).median())

    assert clock_only(warm) < 0.5 * clock_only(cold)  # without the accounting, the warm run would look fast
