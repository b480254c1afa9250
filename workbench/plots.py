"""Plots people would rather look at than read: per-run latency and quality, and the comparison of runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

STAGE_ORDER = ("embed", "retrieve", "load_state", "build_prompt", "reason", "persist_state", "act")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_run(result: Any, out: Path) -> list[Path]:
    plt = _pyplot()
    m = result.metrics
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"wspace": 0.6})
    p50 = [m[f"latency_{s}_p50_ms"] for s in STAGE_ORDER]
    p95 = [m[f"latency_{s}_p95_ms"] for s in STAGE_ORDER]
    x = range(len(STAGE_ORDER))
    left.bar([i - 0.2 for i in x], p50, width=0.4, label="p50")
    left.bar([i + 0.2 for i in x], p95, width=0.4, label="p95")
    left.set_xticks(list(x), STAGE_ORDER, rotation=30, ha="right")
    left.set_ylabel("ms")
    left.set_title(f"Latency per stage ({result.config.name})")
    left.legend()
    quality = {k: v for k, v in m.items() if (k.endswith(("_at_k", "_at_10")) or "context" in k or k.endswith(("_score", "_similarity", "_match"))) and v == v}
    right.barh(list(quality), list(quality.values()))
    right.set_xlim(0, 1)
    right.set_title("Quality")
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.25)  # fixed layout: tight_layout costs more than the plot
    path = out / "run_summary.png"
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return [path]


def plot_comparison(frame: Any, quality: str, out: Path) -> Path:
    """Quality against p95 latency and against cost; Pareto-optimal runs highlighted and labelled."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, x, label in ((axes[0], "latency_total_p95_ms", "p95 latency (ms)"), (axes[1], "cost_per_1m_events", "USD per 1M events")):
        front = frame[frame["pareto"]]
        ax.scatter(frame[x], frame[quality], color="lightgray", label="run")
        ax.scatter(front[x], front[quality], color="tab:red", label="Pareto front")
        for _, row in front.iterrows():
            ax.annotate(row["name"], (row[x], row[quality]), fontsize=8, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(label)
        ax.set_ylabel(quality)
        ax.legend()
    fig.suptitle(f"{quality} against latency and cost")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
