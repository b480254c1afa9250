"""The local worker: consumes the bus with N threads through the delivery core; never loses an event.

Each received batch is embedded and retrieved for at once, then settled message by message, in order. Success
deletes the message. Bad input goes straight to the DLQ with its reason (retrying cannot fix it). A failure leaves
the message to come back after `retry_after`; an event in progress elsewhere, after the visibility timeout. While
a thread holds a batch, a heartbeat extends its messages' visibility, so a slow event is not redelivered and the
messages behind it are not skipped; while the worker lives, it renews the in-progress expiry of the idempotency
records it holds (`renewing`), so a copy of a slow event delivered meanwhile waits. A worker killed mid-event
frees it when its message becomes visible again: both stop being renewed, with the same timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from workbench.errors import ConfigError
from workbench.serve.bus import MIN_VISIBILITY_S, Heartbeat, LocalBus, Message
from workbench.serve.delivery import Delivery, Pending
from workbench.serve.idempotency import renewing

log = logging.getLogger("workbench.serve.worker")


@dataclass
class WorkerStats:
    processed: int = 0  # events handled now
    duplicates: int = 0  # events seen before: answered from the idempotency record or the ledger
    dead_lettered: int = 0  # messages sent to the DLQ: bad input, or past their receive count
    retried: int = 0  # messages left for redelivery after a failure
    crashed: int = 0  # worker threads that died (the bus failed them): the worker then stops, and exits non-zero
    latencies_ms: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, latency_ms: float | None = None, **counts: int) -> None:
        with self._lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)
            if latency_ms is not None:
                self.latencies_ms.append(latency_ms)


class Worker:
    def __init__(
        self,
        delivery: Delivery,
        bus: LocalBus,
        *,
        batch_size: int = 10,
        visibility_timeout: float = 30.0,
        retry_after: float = 0.5,
        poll_s: float = 0.05,
        batched: bool = True,
    ) -> None:
        """`batched`: embed and retrieve for each received batch at once (`Delivery.batch`); False handles each
        message on its own, the path before batching (kept to compare with)."""
        if not 1 <= batch_size <= 10:
            raise ConfigError(f"batch_size {batch_size}: SQS receives 1 to 10 messages at a time")
        if not MIN_VISIBILITY_S <= visibility_timeout <= 43200:
            raise ConfigError(
                f"visibility_timeout {visibility_timeout}: must be {MIN_VISIBILITY_S:g} to 43200 s (SQS's 12 h); "
                "a shorter one lapses before a heartbeat can extend it"
            )
        if retry_after < 0:
            raise ConfigError(f"retry_after {retry_after}: must be 0 or more seconds")
        self.delivery, self.bus = delivery, bus
        self.batch_size, self.visibility_timeout, self.retry_after, self.poll_s = (
            batch_size,
            visibility_timeout,
            retry_after,
            poll_s,
        )
        self.batched = batched
        self.stats = WorkerStats()

    def run(self, concurrency: int = 1, until_empty: bool = True, stop: threading.Event | None = None) -> WorkerStats:
        stop = stop or threading.Event()
        threads = [
            threading.Thread(target=self._guarded, args=(until_empty, stop), name=f"worker-{i}") for i in range(concurrency)
        ]
        # the events in hand stay this process's while it lives, however slow: a redelivered copy waits
        with renewing(self.delivery.persistence, self.visibility_timeout):
            for t in threads:
                t.start()
            try:
                for t in threads:
                    t.join()
            except KeyboardInterrupt:
                stop.set()  # in-flight messages return to the queue after their visibility timeout
                for t in threads:
                    t.join()
        return self.stats

    def _guarded(self, until_empty: bool, stop: threading.Event) -> None:
        """A thread that dies stops the whole worker, counted in `stats.crashed`: a worker that ran on with fewer
        threads, or exited 0, would hide that its messages are no longer handled."""
        try:
            self._loop(until_empty, stop)
        except Exception:  # noqa: BLE001 - reported, and the worker stops; the messages come back after their timeout
            log.exception("worker thread %s died; stopping the worker", threading.current_thread().name)
            self.stats.add(crashed=1)
            stop.set()

    def _loop(self, until_empty: bool, stop: threading.Event) -> None:
        while not stop.is_set():
            received_at = time.time()  # taken before the bus's clock: our deadline never outlives its visibility
            messages = self.bus.receive(self.batch_size, self.visibility_timeout)
            self.stats.add(dead_lettered=messages.dead_lettered)  # moved at receive, past their receive count
            if not messages:
                counts = self.bus.counts()
                if until_empty and counts["visible"] == 0 and counts["in_flight"] == 0:
                    return
                time.sleep(self.poll_s)
                continue
            started = time.perf_counter()
            with self.bus.heartbeat(messages, self.visibility_timeout, since=received_at) as beat:
                if not self.batched:
                    self._each(messages, [None] * len(messages), beat, started)
                    continue
                with self.delivery.batch([(m.body, _source(m)) for m in messages]) as pending:
                    self._each(messages, pending, beat, started)

    def _each(self, messages: list[Message], pending: list[Pending | None], beat: Heartbeat, started: float) -> None:
        for message, records in zip(messages, pending):
            left = beat.time_left(message)
            if left <= 0:
                continue  # another receive holds it: this worker stalled past the visibility timeout
            try:
                self.process(message, left, records, started)
            except Exception as exc:  # noqa: BLE001 - a worker thread outlives anything one message does
                log.exception("message %s: unexpected failure", message.id)
                self.bus.fail(message.receipt, f"{type(exc).__name__}: {exc}", self.retry_after)
                self.stats.add(retried=1)

    def process(
        self, message: Message, time_left_s: float | None = None, records: Pending | None = None, started: float | None = None
    ) -> None:
        """Settle one message: `records` are its parsed records from its batch (else it is parsed here); its events'
        latencies count from `started` (the receive of its batch), so a batch's wait is in them."""
        self.delivery.context.set(self.visibility_timeout if time_left_s is None else time_left_s)
        start = time.perf_counter() if started is None else started
        outcomes = (
            self.delivery.deliver(message.body, _source(message)) if records is None else self.delivery.deliver_parsed(records)
        )
        for o in outcomes:
            if o.status == "handled":
                self.stats.add(processed=1, latency_ms=(time.perf_counter() - start) * 1000)
            elif o.status == "duplicate":
                self.stats.add(duplicates=1)
        retry = [o for o in outcomes if o.status in ("in_progress", "failed")]
        rejected = [o for o in outcomes if o.status == "rejected"]
        if retry:
            in_progress = any(o.status == "in_progress" for o in retry)
            self.bus.fail(
                message.receipt, "; ".join(o.reason for o in retry), self.visibility_timeout if in_progress else self.retry_after
            )
            self.stats.add(retried=1)
        elif rejected:
            self.bus.dead_letter(message, "; ".join(o.reason for o in rejected))
            self.stats.add(dead_lettered=1)
        else:
            self.bus.delete(message.receipt)


def _source(message: Message) -> str:
    return f"bus message {message.id}"
