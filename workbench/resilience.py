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
from threading import TIMEOUT_MAX  # the longest wait Python can make; past it every call raises OverflowError
from typing import Any, Callable, Iterator, Literal
from urllib.error import HTTPError

from pydantic import Field, field_validator

from workbench.sections import Section

METHODS = ("embed", "query", "query_many", "upsert", "load", "save", "reason", "act")
SIDE_EFFECTS = frozenset({"act", "save"})  # run to their own end: abandoning one would let a retry repeat it
TRANSIENT = (TimeoutError, ConnectionError, OSError)
RETRIED_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class ResilienceConfig(Section):
    """Every downstream call: retried on transient errors (exponential backoff, jitter), timed out, rate limited."""

    max_attempts: int = Field(3, ge=1, le=20)
    base_delay_s: float = Field(0.05, gt=0, le=TIMEOUT_MAX)
    max_delay_s: float = Field(2.0, gt=0, le=TIMEOUT_MAX)
    timeout_s: float = Field(30.0, gt=0, le=TIMEOUT_MAX)
    rate_per_s: dict[Literal["embedder", "index", "state", "reasoner", "actuator"], float] = Field(
        default_factory=dict, description="token-bucket rate per downstream, e.g. {reasoner: 5}"
    )

    @field_validator("rate_per_s")
    @classmethod
    def _positive_rates(cls, rates: dict[str, float]) -> dict[str, float]:
        """A negative rate validated, then made every call fail ("sleep length must be non-negative"); 0 silently
        meant no limit; below 1/TIMEOUT_MAX the wait for a token overflows."""
        for name, rate in rates.items():
            if rate <= 0:
                raise ValueError(
                    f"{name}: {rate:g} calls per second; a rate must be more than 0. For no limit, leave {name} out of rate_per_s"
                )
            if rate < 1 / TIMEOUT_MAX:
                raise ValueError(
                    f"{name}: {rate:g} calls per second is less than one call in {TIMEOUT_MAX:.0f} s, Python's longest wait"
                )
        return rates


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
