"""Retries with exponential backoff and jitter, a timeout on every call, and a token bucket per downstream.

`guard(part, ...)` wraps any part object: its protocol methods gain the policy, everything else passes
through. Retries use tenacity; only transient errors are retried: timeouts, connection and OS errors, and a
provider's HTTP 408, 409, 429 or 5xx (any exception with such a `status_code`, as the openai and anthropic SDKs
raise, or an HTTP error with such a `code`), after the provider SDK's own retries gave up. Another HTTP status (a
400, a 403) is the request's own fault: sending it again cannot help.

Calls with side effects (`act`, `save`) are never abandoned at the timeout: a call the guard gave up on would keep
running, and a retry beside it would act twice. They run to the end of their own client's timeout (for example
`actuator.timeout_s`), and are retried only once their failure is known.

Bulk work (ingestion) runs `with bulk():`: it has its own progress bar, and a batch of 256 passages may take longer
than any per-event timeout, so there the guarded parts are called as they are.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterator
from urllib.error import HTTPError

METHODS = ("embed", "query", "query_many", "upsert", "load", "save", "reason", "act")
SIDE_EFFECTS = frozenset({"act", "save"})  # run to their own end: abandoning one would let a retry repeat it
TRANSIENT = (TimeoutError, ConnectionError, OSError)
RETRIED_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
_BULK: ContextVar[bool] = ContextVar("workbench_bulk", default=False)


@contextmanager
def bulk() -> Iterator[None]:
    """Calls to guarded parts in this block (this thread or task only) skip the policy: no timeout, retry or rate."""
    token = _BULK.set(True)
    try:
        yield
    finally:
        _BULK.reset(token)


def transient(exc: BaseException) -> bool:
    status = getattr(exc, "status_code", None) or (exc.code if isinstance(exc, HTTPError) else None)
    if status is not None:  # urllib's HTTPError is an OSError too: its status decides
        return status in RETRIED_STATUS
    return isinstance(exc, TRANSIENT)


class TokenBucket:
    """`rate` calls per second on average, bursts up to `burst`; `acquire` blocks until a token is free."""

    def __init__(self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.capacity, self.clock = rate, burst or max(1.0, rate), clock
        self.tokens, self.updated = self.capacity, clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take a token; returns the seconds spent waiting (back-pressure made visible)."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return waited
                need = (1 - self.tokens) / self.rate
            time.sleep(need)
            waited += need


class Guarded:
    def __init__(
        self,
        part: Any,
        name: str,
        attempts: int,
        base_delay_s: float,
        max_delay_s: float,
        timeout_s: float,
        limiter: TokenBucket | None,
    ) -> None:
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

        self._part, self._name, self._timeout, self._limiter = part, name, timeout_s, limiter
        self._retrying = Retrying(
            stop=stop_after_attempt(attempts),
            reraise=True,
            wait=wait_exponential_jitter(initial=base_delay_s, max=max_delay_s),
            retry=retry_if_exception(transient),
        )
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"guard-{name}")

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._part, attr)
        if attr not in METHODS:
            return value
        return lambda *args, **kwargs: (
            value(*args, **kwargs) if _BULK.get() else self._retrying(self._call, attr, value, args, kwargs)
        )

    def _call(self, method: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        if self._limiter:
            self._limiter.acquire()
        if method in SIDE_EFFECTS:
            return fn(*args, **kwargs)
        future = self._pool.submit(fn, *args, **kwargs)
        try:
            return future.result(timeout=self._timeout)
        except FutureTimeout:
            raise TimeoutError(f"{self._name}.{method} took longer than {self._timeout}s") from None


def guard(part: Any, name: str, policy: Any) -> Any:
    """Wrap `part` with the config's resilience policy (a `ResilienceConfig`)."""
    rate = policy.rate_per_s.get(name)
    return Guarded(
        part,
        name,
        policy.max_attempts,
        policy.base_delay_s,
        policy.max_delay_s,
        policy.timeout_s,
        TokenBucket(rate) if rate else None,
    )
