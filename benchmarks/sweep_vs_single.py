"""One evaluation, the same with --repeats 3, and a sweep of 8 configurations: all in one run, each from an empty workspace.

    python benchmarks/sweep_vs_single.py [--spec experiments/topk_sweep.yaml] [--no-traces] [--no-plots] [--rounds 3]

Targets (issues 3 and 12): the sweep <= 1.5 x one evaluation; --repeats 3 <= 2.2 x --repeats 1. Each side loads
the model, builds the index, evaluates, scores with ragas and logs to a fresh MLflow store (a trace per evaluated
question unless --no-traces, a per-run plot unless --no-plots: with both, what is left is the floor of a point).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from workbench.lab import plots, tracking
from workbench.lab.evaluate import evaluate
from workbench.lab.sweep import SweepSpec, run_sweep
from workbench.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="experiments/topk_sweep.yaml")
    parser.add_argument("--no-traces", action="store_true", help="log no MLflow trace per question, on every side")
    parser.add_argument("--no-plots", action="store_true", help="draw no per-run plot, on every side (a benchmark's switch)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds, each side once per round in a rotated order; "
        "ratios are the median of the rounds' (a shared machine's load moves between sides)",
    )
    args = parser.parse_args()
    spec = SweepSpec.from_yaml(args.spec).model_copy(update={"traces": not args.no_traces})
    if args.no_plots:
        plots.plot_run = lambda result, out: []
    _warm_imports()

    sides = [
        ("one evaluation", lambda: _evaluate(spec, 1)),
        ("--repeats 3", lambda: _evaluate(spec, 3)),
        ("sweep of 8", lambda: _sweep(spec)),
    ]
    rounds = []
    for r in range(args.rounds):
        seconds = {}
        for name, side in sides[r % 3 :] + sides[: r % 3]:
            seconds[name] = side()
        rounds.append(seconds)
        print(f"round {r + 1}: " + "  ".join(f"{k} {v:.1f}s" for k, v in seconds.items()), flush=True)
    repeats = statistics.median(s["--repeats 3"] / s["one evaluation"] for s in rounds)
    swept = statistics.median(s["sweep of 8"] / s["one evaluation"] for s in rounds)
    print(
        f"traces: {spec.traces}  plots: {not args.no_plots}  rounds: {args.rounds}  median ratios: --repeats 3 / one evaluation {repeats:.2f} (target <= 2.2), "
        f"sweep of 8 / one evaluation {swept:.2f} (target <= 1.5)"
    )


def _evaluate(spec: SweepSpec, repeats: int) -> float:
    with tempfile.TemporaryDirectory() as home:
        start = time.perf_counter()
        ws = Workspace(Path(home))
        tracking.connect(ws)
        result = evaluate(spec.base_config(), spec.dataset, ws, progress=False, repeats=repeats)
        tracking.log_evaluation(result, result.evalset.name, result.evalset.content_hash, traces=spec.traces)
        return time.perf_counter() - start


def _sweep(spec: SweepSpec) -> float:
    with tempfile.TemporaryDirectory() as home:
        start = time.perf_counter()
        report = run_sweep(spec, Workspace(Path(home)), progress=False)
        assert len(report.ran) == 8, report
        return time.perf_counter() - start


def _warm_imports() -> None:
    """Pay Python's one-time imports before any timing, so no side gets them for free."""
    import chromadb  # noqa: F401
    import langchain_text_splitters  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    import mlflow  # noqa: F401
    import ragas.metrics  # noqa: F401
    import scipy.stats  # noqa: F401
    import sentence_transformers  # noqa: F401


if __name__ == "__main__":
    main()
