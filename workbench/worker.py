"""The local worker: consumes the bus with N threads, handles each event once, never loses one.

Success deletes the message. Bad input goes straight to the DLQ with its reason (retrying cannot fix it).
Any other failure leaves the message to come back (after `retry_after`, or after the visibility timeout if
the worker died), and the bus dead-letters it after its maximum receive count. Idempotency makes
redeliveries and duplicate publishes a no-op.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from workbench.bus import LocalBus, Message
from workbench.events import parse_payload
from workbench.idempotency import AlreadyInProgress, SQLiteIdempotency

log = logging.getLogger("workbench.worker")


@dataclass
class WorkerStats:
    processed: int = 0      # events handled now
    duplicates: int = 0     # events seen before: answered from the idempotency record
    dead_lettered: int = 0  # messages sent to the DLQ for bad input
    retried: int = 0        # messages left for redelivery after a failure
    latencies_ms: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, latency_ms: float | None = None, **counts: int) -> None:
        with self._lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)
            if latency_ms is not None:
                self.latencies_ms.append(latency_ms)


class Worker:
    def __init__(self, agent: Any, bus: LocalBus, idempotency: SQLiteIdempotency, *, batch_size: int = 10,
                 visibility_timeout: float = 30.0, retry_after: float = 0.5, poll_s: float = 0.05) -> None:
        self.agent, self.bus, self.idempotency = agent, bus, idempotency
        self.batch_size, self.visibility_timeout, self.retry_after, self.poll_s = batch_size, visibility_timeout, retry_after, poll_s
        self.stats = WorkerStats()

    def run(self, concurrency: int = 1, until_empty: bool = True, stop: threading.Event | None = None) -> WorkerStats:
        stop = stop or threading.Event()
        threads = [threading.Thread(target=self._loop, args=(until_empty, stop), name=f"worker-{i}") for i in range(concurrency)]
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

    def _loop(self, until_empty: bool, stop: threading.Event) -> None:
        while not stop.is_set():
            messages = self.bus.receive(self.batch_size, self.visibility_timeout)
            if not messages:
                counts = self.bus.counts()
                if until_empty and counts["visible"] == 0 and counts["in_flight"] == 0:
                    return
                time.sleep(self.poll_s)
                continue
            for message in messages:
                self.process(message)

    def process(self, message: Message) -> None:
        parsed = parse_payload(message.body)
        errors = [p.error for p in parsed if p.error]
        if errors:
            self.bus.dead_letter(message, "; ".join(errors))
            self.stats.add(dead_lettered=1)
            return
        try:
            for p in parsed:
                start = time.perf_counter()
                _, fresh = self.idempotency.run(p.event.event_id, lambda event=p.event: self.agent.handle(event).to_dict())
                if fresh:
                    self.stats.add(processed=1, latency_ms=(time.perf_counter() - start) * 1000)
                else:
                    self.stats.add(duplicates=1)
            self.bus.delete(message.receipt)
        except AlreadyInProgress as exc:
            self.bus.fail(message.receipt, str(exc), self.retry_after)
            self.stats.add(retried=1)
        except Exception as exc:  # noqa: BLE001 - the worker outlives any one event; the bus keeps the message
            log.warning("message %s failed (receive %d): %s", message.id, message.receive_count, exc)
            self.bus.fail(message.receipt, f"{type(exc).__name__}: {exc}", self.retry_after)
            self.stats.add(retried=1)
