"""The LLM judge behind ragas's judged metrics: any LangChain chat model, cached on disk, its failures counted.

Cached: each judge response is stored in SQLite keyed by the prompt and the model's identity (LangChain's
`llm_string`: provider class, model, endpoint and sampling parameters), so a second evaluation of the same
run makes no judge call, and a changed model or prompt never reads another's answers.

Counted: a judged score that raises (output ragas cannot parse after its own retries, a timeout, an API
error) or comes back without a value is NaN in its row and 1 in `<metric>_failed`; the aggregates report
`<metric>_failures` and `<metric>_failure_rate` and their totals, so a broken judge never reads as a 0.

Example: `workbench eval --judge openai:gpt-4o-mini` (OPENAI_API_KEY, and OPENAI_BASE_URL for any
OpenAI-compatible server); `--judge bedrock_converse:anthropic.claude-3-5-haiku-20241022-v1:0`;
`--judge ollama:llama3.1`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from workbench.errors import ConfigError

JUDGE_TIMEOUT_S = 120.0  # per metric and sample, ragas's own re-asks included
JUDGE_CONCURRENCY = 8  # judged scores in flight at once: a provider's rate limit, not the CPU, is the bound


def judge_cache(path: Path) -> Any:
    """A LangChain cache over SQLite at `path`, counting what it answered (`hits`) and what it did not (`misses`)."""
    from langchain_core.caches import BaseCache
    from langchain_core.load import dumps, loads

    from workbench.sqlite_connections import connect

    class JudgeCache(BaseCache):
        def __init__(self) -> None:
            self.path, self.hits, self.misses = path, 0, 0
            self._lock = threading.Lock()
            self._db = connect(path, check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS judge (key TEXT PRIMARY KEY, generations TEXT)")

        @staticmethod
        def _key(prompt: str, llm_string: str) -> str:
            return hashlib.sha256(json.dumps([llm_string, prompt]).encode()).hexdigest()

        def lookup(self, prompt: str, llm_string: str) -> Any:
            with self._lock:
                row = self._db.execute("SELECT generations FROM judge WHERE key = ?", (self._key(prompt, llm_string),)).fetchone()
                self.hits, self.misses = self.hits + (row is not None), self.misses + (row is None)
            return loads(row[0]) if row else None

        def update(self, prompt: str, llm_string: str, return_val: Any) -> None:
            with self._lock, self._db:
                self._db.execute("INSERT OR REPLACE INTO judge VALUES (?, ?)", (self._key(prompt, llm_string), dumps(return_val)))

        def clear(self, **kwargs: Any) -> None:
            with self._lock, self._db:
                self._db.execute("DELETE FROM judge")

    return JudgeCache()


def judged_factories(judge: str, embeddings: Any, cache: Any) -> dict[str, Callable[[], Any]]:
    """ragas's LLM-judged metrics on `judge` ("provider:model"). Each metric gets its own chat model object:
    ragas sets `n` and `temperature` on the model before each call, and metrics sharing one would race."""
    from ragas.metrics import FactualCorrectness, Faithfulness, LLMContextPrecisionWithReference, ResponseRelevancy

    chat_model(judge, cache)  # a bad spec or a missing provider package fails here, before any question is asked

    def llm() -> Any:
        return chat_model(judge, cache)

    return {
        "faithfulness": lambda: Faithfulness(llm=llm()),
        "answer_relevancy": lambda: ResponseRelevancy(llm=llm(), embeddings=embeddings),
        "llm_context_precision_with_reference": lambda: LLMContextPrecisionWithReference(llm=llm()),
        "factual_correctness": lambda: FactualCorrectness(llm=llm()),
    }


def chat_model(spec: str, cache: Any = None, role: str = "judge") -> Any:
    """A ragas-wrapped LangChain chat model for `spec` ("provider:model"), at temperature 0, cached in `cache`."""
    from ragas.llms import LangchainLLMWrapper

    from workbench.reasoners.langchain_chat import init_chat

    provider, _, model = spec.partition(":")
    if not (provider and model):
        raise ConfigError(f"{role} {spec!r}: write it as provider:model, e.g. openai:gpt-4o-mini")
    return LangchainLLMWrapper(init_chat(provider, model, role, temperature=0, cache=cache))


async def judged_score(metric: Any, sample: Any, gate: asyncio.Semaphore) -> tuple[float, str | None]:
    """(score, None), or (NaN, why) when the judge gave no usable score."""
    async with gate:
        try:
            value = await metric.single_turn_ascore(sample, timeout=JUDGE_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - whatever the judge did wrong, the row records it and the run goes on
            reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            return math.nan, reason[:300]
    if value is None or math.isnan(value):
        return math.nan, "the judge's output gave no score"
    return float(value), None


def judge_summary(table: Any, judged: Sequence[str], cache: Any = None) -> dict[str, float]:
    """Failure counts and rates per judged metric and in total, and the judge calls the cache did not answer."""
    out: dict[str, float] = {}
    failures = attempts = 0
    for name in judged:
        flags = table[f"{name}_failed"].dropna()
        failures, attempts = failures + int(flags.sum()), attempts + len(flags)
        out[f"{name}_failures"] = float(flags.sum())
        if len(flags):
            out[f"{name}_failure_rate"] = float(flags.mean())
    if judged:
        out["judge_failures"] = float(failures)
        if attempts:
            out["judge_failure_rate"] = failures / attempts
    if cache is not None:
        out["judge_calls"], out["judge_cache_hits"] = float(cache.misses), float(cache.hits)
    return out
