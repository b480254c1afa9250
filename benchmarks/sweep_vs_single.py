"""One evaluation, the same with --repeats 3, and a sweep of 8 configurations: all in one run, each from an empty workspace.

    python benchmarks/sweep_vs_single.py [--spec experiments/topk_sweep.yaml] [--no-traces]

Targets (issues 3 and 12): the sweep <= 1.5 x one evaluation; --repeats 3 <= 2.2 x --repeats 1. Each side loads
the model, builds the index, evaluates, scores with ragas and logs to a fresh MLflow store (a trace per evaluated
question unless --no-traces).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from workbench import tracking
from workbench.evaluation.runner import evaluate
from workbench.sweep import SweepSpec, run_sweep
from workbench.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="experiments/topk_sweep.yaml")
    parser.add_argument("--no-traces", action="store_true", help="log no MLflow trace per question, on every side")
    args = parser.parse_args()
    spec = SweepSpec.from_yaml(args.spec).model_copy(update={"traces": not args.no_traces})
    base = spec.base_config()  # the configuration the sweep varies
    _warm_imports()

    seconds, results = {}, {}
    for repeats in (1, 3):
        with tempfile.TemporaryDirectory() as home:
            start = time.perf_counter()
            ws = Workspace(Path(home))
            tracking.connect(ws)
            results[repeats] = evaluate(base, spec.dataset, ws, progress=False, repeats=repeats)
            tracking.log_evaluation(results[repeats], results[repeats].evalset.name, results[repeats].evalset.content_hash,
                                    traces=spec.traces)
            seconds[repeats] = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as home:
        start = time.perf_counter()
        report = run_sweep(spec, Workspace(Path(home)), progress=False)
        swept = time.perf_counter() - start

    one = results[1]
    print(f"questions: {len(one.table)}  points: {len(report.ran)}  traces: {spec.traces}  "
          f"texts embedded by one evaluation: {one.embedded}, with 3 repeats: {results[3].embedded}, by the sweep: {report.embedded}")
    print(f"one evaluation: {seconds[1]:.1f}s  --repeats 3: {seconds[3]:.1f}s  ratio: {seconds[3] / seconds[1]:.2f} (target <= 2.2)")
    print(f"sweep of {len(report.ran)}: {swept:.1f}s  ratio: {swept / seconds[1]:.2f} (target <= 1.5)")


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
