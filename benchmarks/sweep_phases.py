"""Where a sweep point's time goes: wall, CPU and model time of each phase, per point, for the points after the first.

    python benchmarks/sweep_phases.py [--spec experiments/topk_sweep.yaml] [--no-traces]

The first point also pays what the later ones share (the questions' embeddings), so it is left out. Phases: the loop
over the questions (`_ask`), ragas (`score_samples`), the summary with its intervals, the per-run plot, the traces,
and the rest of the point (its MLflow run, the sandboxes, the warm-up question). Time goes to the innermost phase
running; model time is MiniLM's own, inside it. CPU counts every thread of the process: torch runs two.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter, defaultdict
from functools import wraps
from pathlib import Path
from typing import Any, Callable

from workbench.embedders.minilm import MiniLMEmbedder
from workbench.lab import evaluate, plots, sweep, traces
from workbench.lab.sweep import SweepSpec, run_sweep
from workbench.workspace import Workspace

PHASES = {"loop": (evaluate, "_ask"), "ragas": (evaluate, "score_samples"), "summary": (evaluate, "summarize")}
PHASES |= {"plot": (plots, "plot_run"), "traces": (traces, "log_traces"), "rest of the point": (sweep, "evaluate_point")}
_COLUMNS = (("wall", 7, 3), ("cpu", 7, 3), ("model", 8, 3), ("texts", 6, 1))


class Clock:
    """Wall and CPU time charged to the innermost phase running, and model time to the phase that called the model."""

    def __init__(self) -> None:
        self.spent: dict[str, Counter] = defaultdict(Counter)
        self.stack = ["outside points"]
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def charge(self) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.spent[self.stack[-1]].update(wall=wall - self.wall, cpu=cpu - self.cpu)
        self.wall, self.cpu = wall, cpu

    def phase(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.charge()
            self.stack.append(name)
            try:
                return fn(*args, **kwargs)
            finally:
                self.charge()
                self.stack.pop()

        return timed

    def model(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(fn)
        def timed(embedder: Any, texts: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(embedder, texts)
            finally:
                self.spent[self.stack[-1]].update(model=time.perf_counter() - start, texts=len(texts))

        return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="experiments/topk_sweep.yaml")
    parser.add_argument("--no-traces", action="store_true", help="log no MLflow trace per question")
    args = parser.parse_args()
    spec = SweepSpec.from_yaml(args.spec).model_copy(update={"traces": not args.no_traces})
    clock, first = Clock(), {}
    for name, (module, attr) in PHASES.items():
        setattr(module, attr, clock.phase(name, getattr(module, attr)))
    MiniLMEmbedder.embed = clock.model(MiniLMEmbedder.embed)
    point = sweep.evaluate_point

    def after_the_first(*args: Any, **kwargs: Any) -> Any:
        outcome = point(*args, **kwargs)
        if not first:  # the phases' totals once the first point is done: later points are counted from here
            first.update({k: Counter(v) for k, v in clock.spent.items()})
        return outcome

    sweep.evaluate_point = after_the_first
    with tempfile.TemporaryDirectory() as home:
        points = len(run_sweep(spec, Workspace(Path(home)), progress=False).ran) - 1
    print(f"per point, mean of the {points} after the first (traces: {spec.traces}):")
    print(f"  {'phase':18s} {'wall s':>7s} {'CPU s':>7s} {'model s':>8s} {'texts':>6s}")
    total = Counter()
    for name in PHASES:
        spent = clock.spent[name] - first.get(name, Counter())
        total.update(spent)
        print(f"  {name:18s} " + " ".join(f"{spent[k] / points:{w}.{p}f}" for k, w, p in _COLUMNS))
    print(f"  {'all':18s} " + " ".join(f"{total[k] / points:{w}.{p}f}" for k, w, p in _COLUMNS))


if __name__ == "__main__":
    main()
