"""A call repeated in a background thread while a block runs: the bus's visibility heartbeat and the idempotency
lease both keep something of a live worker's from lapsing this way."""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

log = logging.getLogger("workbench.serve")


@contextmanager
def every(seconds: float, call: Callable[[], object], name: str) -> Iterator[None]:
    """Run `call` every `seconds` until the block ends. A failing call is logged and tried again at the next beat:
    a busy store must not stop what the beats protect, and each beat comes well within the expiry it renews."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(seconds):
            try:
                call()
            except Exception:  # noqa: BLE001 - logged; the next beat tries again
                log.warning("%s: a beat failed", name, exc_info=True)

    thread = threading.Thread(target=beat, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
