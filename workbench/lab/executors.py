"""Where sweep points run: in this process, in a pool of processes on this machine, or as Ray tasks on a cluster.

Every executor evaluates `Point`s and yields their `Outcome`s in order. A worker (a pool process, a Ray worker)
keeps the model it loaded for its next points, and uses its machine's caches: the embedding cache and the index
folders of the workspace (same path on every node). A node builds each index once, under a lock, and its
embedding cache lets one process at a time embed what is missing, so no node embeds a text twice.
"""

from __future__ import annotations

import fcntl
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from workbench.config import AgentConfig
from workbench.errors import ExecutorError
from workbench.lab.evalsets import DatasetSpec
from workbench.lab.sweep import Outcome, Point, evaluate_point
from workbench.workspace import Workspace

EXECUTORS = ("process", "ray")
_models: dict[Any, Any] = {}  # in a worker: one loaded embedder per (workspace, embedder config), kept between points


def prepare(cfg: AgentConfig, dataset: DatasetSpec, workspace: Workspace, embedder: Any, progress: bool = False) -> None:
    """Build `cfg`'s index on this node unless it is there: one process of the node at a time builds it."""
    from workbench.lab.evaluate import open_index

    with open(workspace.root / "indexes.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        open_index(cfg, dataset, workspace, embedder, progress)


def run_point(point: Point) -> Outcome:
    """A worker's evaluation of one point: its own model (loaded at its first point), this node's caches."""
    from workbench.assembly import build_embedder
    from workbench.lab import tracking
    from workbench.registry import BuildContext

    key = (point.workspace, point.config.embedder)
    if key not in _models:
        _models[key] = build_embedder(BuildContext(point.config, point.workspace))
    embedder = _models[key]
    before = getattr(embedder, "computed", 0)
    tracking.connect(point.workspace, point.tracking_uri)
    prepare(point.config, point.spec.dataset, point.workspace, embedder)  # a no-op where the driver's machine built it
    outcome = evaluate_point(point, embedder)
    return Outcome(outcome.run_id, getattr(embedder, "computed", 0) - before, outcome.metrics)


class Inline:
    """This process, one point at a time; lazy, so an interruption stops before the next point."""

    def __init__(self, run: Callable[[Point], Outcome]) -> None:
        self.run = run

    def map(self, points: Iterable[Point]) -> Iterator[Outcome]:
        return map(self.run, points)


class Processes:
    def __init__(self, jobs: int) -> None:
        # spawn, not fork: MLflow's and SQLite's open connections must not be shared with children.
        self.pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))

    def map(self, points: Iterable[Point]) -> Iterator[Outcome]:
        return self.pool.map(run_point, points)

    def close(self) -> None:
        self.pool.shutdown()


class Ray:
    """Ray tasks, one CPU each. Joins the Ray this process already started, else the cluster at `address`
    (`ray://HOST:10001`, `auto`), else starts a local one with `jobs` CPUs (stopped again at the end)."""

    def __init__(self, jobs: int, address: str | None) -> None:
        try:
            import ray
        except ImportError:
            raise ExecutorError("--executor ray needs Ray: pip install 'ray==2.60.0'") from None
        self.ray, self.started = ray, not ray.is_initialized()
        if self.started:
            import workbench

            # A remote cluster gets this checkout's package, so its workers run the driver's code.
            runtime_env = {"py_modules": [str(Path(workbench.__file__).parent)]} if address else None
            try:
                ray.init(
                    address=address,
                    num_cpus=None if address else jobs,
                    include_dashboard=False,
                    runtime_env=runtime_env,
                    log_to_driver=False,
                )
            except Exception as exc:  # noqa: BLE001 - connection and start-up errors alike
                raise ExecutorError(
                    f"cannot start or join Ray at {address or 'a new local cluster'}: {type(exc).__name__}: {str(exc)[:200]}"
                ) from None
        self.task = ray.remote(num_cpus=1)(run_point)

    def map(self, points: Iterable[Point]) -> Iterator[Outcome]:
        refs = [self.task.remote(p) for p in points]  # all submitted at once; Ray runs as many as there are CPUs
        return (self.ray.get(ref) for ref in refs)

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def check(kind: str, address: str | None, tracking_uri: str) -> None:
    """Refuse a bad executor before any work: a sweep checks it before it builds an index."""
    if kind not in EXECUTORS:
        raise ExecutorError(f"unknown executor {kind!r}; choose one of: {', '.join(EXECUTORS)}")
    if address and kind != "ray":
        raise ExecutorError("--address is for --executor ray")
    if (address or "").startswith("ray://") and not tracking_uri.startswith(("http", "databricks")):
        raise ExecutorError(
            f"the workers of the cluster at {address} cannot log to the tracking store {tracking_uri} of "
            "this machine: give a tracking server (--tracking-uri http://HOST:5000, see README)"
        )


@contextmanager
def make_executor(kind: str, jobs: int, address: str | None, inline: Callable[[Point], Outcome]) -> Iterator[Any]:
    """`kind` "process": `jobs` processes (1: `inline`, in this process); "ray": Ray tasks. `check` it first."""
    executor = Ray(jobs, address) if kind == "ray" else Processes(jobs) if jobs > 1 else Inline(inline)
    try:
        yield executor
    finally:
        getattr(executor, "close", lambda: None)()
