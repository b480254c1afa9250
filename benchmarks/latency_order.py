"""One configuration's latency and cost by evaluation order and cache state, with the real MiniLM (issue 12).

    python benchmarks/latency_order.py [--spec experiments/hybrid_sweep.yaml]

The spec's first point (vector-only) is evaluated cold in an empty workspace, then the other points, then it
again (warm); in a second empty workspace the other points go first and it comes last. For each evaluation of
it: p50 and p95 latency and the cost per 1M events as reported (cache hits charged their model time) and as the
loop's clock alone saw them (what evaluations reported before issue 12). The target: reported figures within
+-20% of each other.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from workbench.assembly import build_embedder
from workbench.lab.evaluate import evaluate
from workbench.lab.sweep import SweepSpec
from workbench.registry import BuildContext
from workbench.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="experiments/hybrid_sweep.yaml")
    args = parser.parse_args()
    spec = SweepSpec.from_yaml(args.spec)
    first, *others = spec.expand()
    seen = {}
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        ws1, ws2 = Workspace(Path(one)), Workspace(Path(two))
        e1, e2 = (build_embedder(BuildContext(first, ws)) for ws in (ws1, ws2))  # one loaded model per workspace
        seen["cold, first"] = evaluate(first, spec.dataset, ws1, embedder=e1, progress=False, metrics=["exact_match"])
        for cfg in others:
            evaluate(cfg, spec.dataset, ws1, embedder=e1, progress=False, metrics=["exact_match"])
        seen["warm, after the others"] = evaluate(first, spec.dataset, ws1, embedder=e1, progress=False, metrics=["exact_match"])
        for cfg in others:
            evaluate(cfg, spec.dataset, ws2, embedder=e2, progress=False, metrics=["exact_match"])
        seen["others first, then it"] = evaluate(first, spec.dataset, ws2, embedder=e2, progress=False, metrics=["exact_match"])

    print(f"{first.name}: {len(seen['cold, first'].table)} questions; {len(others)} other configurations")
    print(f"{'evaluation':26} {'p50 ms':>8} {'p95 ms':>8} {'USD/1M':>8}   clock only: {'p50':>7} {'p95':>7} {'USD/1M':>8}")
    for label, result in seen.items():
        t, m = result.table, result.metrics
        clock = t["latency_total_ms"] - t["replayed_ms"]
        lam = first.deploy.memory_mb / 1024 * first.pricing.lambda_gb_second * 1000  # USD per 1M events per ms
        print(
            f"{label:26} {m['latency_total_p50_ms']:8.1f} {m['latency_total_p95_ms']:8.1f} {m['cost_per_1m_events']:8.3f}   "
            f"{'':11} {clock.quantile(0.5):7.1f} {clock.quantile(0.95):7.1f} "
            f"{m['cost_per_1m_events'] - lam * t['replayed_ms'].mean():8.3f}"
        )
    reported = [
        r.metrics[k] for k in ("latency_total_p50_ms", "latency_total_p95_ms", "cost_per_1m_events") for r in seen.values()
    ]
    spread = max(max(reported[i : i + 3]) / min(reported[i : i + 3]) for i in (0, 3, 6))
    print(f"largest ratio between evaluations of the same figure: {spread:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
