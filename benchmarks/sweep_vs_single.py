"""A sweep of 8 configurations sharing an embedder against one configuration's evaluation, same run, cold caches.

    python benchmarks/sweep_vs_single.py [--spec experiments/topk_sweep.yaml]

Target (issue 3): sweep time <= 1.5 x one evaluation. Both include loading the model, building the
index from an empty workspace and logging to MLflow.
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
    args = parser.parse_args()
    spec = SweepSpec.from_yaml(args.spec)
    base = spec.base_config()  # the configuration the sweep varies
    _warm_imports()

    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as many:
        start = time.perf_counter()
        ws = Workspace(Path(one))
        tracking.connect(ws)
        result = evaluate(base, spec.dataset, ws, progress=False)
        tracking.log_evaluation(result, result.evalset.name, result.evalset.content_hash)
        single = time.perf_counter() - start

        start = time.perf_counter()
        report = run_sweep(spec, Workspace(Path(many)), progress=False)
        swept = time.perf_counter() - start

    print(f"questions: {len(result.table)}  points: {len(report.ran)}  texts embedded by one evaluation: {result.embedded}")
    print(f"one evaluation: {single:.1f}s  sweep of {len(report.ran)}: {swept:.1f}s  "
          f"ratio: {swept / single:.2f} (target <= 1.5)  texts embedded by the sweep: {report.embedded}")


def _warm_imports() -> None:
    """Pay Python's one-time imports before either timing, so neither run gets them for free."""
    import chromadb  # noqa: F401
    import langchain_text_splitters  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    import mlflow  # noqa: F401
    import ragas.metrics  # noqa: F401
    import sentence_transformers  # noqa: F401


if __name__ == "__main__":
    main()
