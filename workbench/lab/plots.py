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
    """Latency per stage (p50 and p95) and quality, each with its 95% interval as an error bar."""
    from workbench.lab.summary import interval, quality_columns

    plt = _pyplot()
    m, table = result.metrics, result.table
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"wspace": 0.75})
    x = range(len(STAGE_ORDER))
    for offset, q, colour in ((-0.2, 50, "tab:blue"), (0.2, 95, "tab:orange")):
        names = [f"latency_{s}_p{q}_ms" for s in STAGE_ORDER]
        values = [m[n] for n in names]
        left.bar(
            [i + offset for i in x],
            values,
            width=0.4,
            label=f"p{q}",
            color=colour,
            yerr=_errors(values, [interval(table, n) for n in names]),
            capsize=3,
            ecolor="black",
        )
    left.set_xticks(list(x), STAGE_ORDER, rotation=30, ha="right")
    left.set_ylabel("ms (cache hits charged their model time)")
    repeats = f"{result.repeats} repeats" if result.repeats > 1 else "1 repeat"
    left.set_title(f"Latency per stage, 95% interval ({repeats})", y=1.0)  # a fixed y: no layout pass for the title
    left.legend()
    names = quality_columns(table)[::-1]  # first metric on top
    values = [m[n] for n in names]
    right.barh(
        names,
        values,
        xerr=_errors(values, [(m[f"{n}_ci_low"], m[f"{n}_ci_high"]) for n in names]),
        capsize=3,
        color="tab:green",
        ecolor="black",
    )
    right.set_xlim(0, 1.05)
    right.tick_params(axis="y", labelsize=8)
    right.set_title(f"Quality, 95% interval over {result.evalset.turn_count} questions", y=1.0)
    fig.suptitle(result.config.name)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.22, top=0.86)  # fixed layout: tight_layout costs more than the plot
    path = out / "run_summary.png"
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return [path]


def _errors(values: list[float], intervals: list[tuple[float, float]]) -> list[list[float]]:
    """matplotlib's asymmetric error bars (distance below, above) from intervals; none where unknown."""
    below = [v - lo if lo == lo else 0.0 for v, (lo, _) in zip(values, intervals)]
    above = [hi - v if hi == hi else 0.0 for v, (_, hi) in zip(values, intervals)]
    return [[max(b, 0.0) for b in below], [max(a, 0.0) for a in above]]


def plot_comparison(frame: Any, quality: str, out: Path, baseline: str | None = None) -> Path:
    """Quality against p95 latency and against cost, every run with its 95% intervals on both axes; the runs
    on the front under uncertainty (`frame["pareto"]`) labelled, the baseline ringed."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, x, label in (
        (axes[0], "latency_total_p95_ms", "p95 latency (ms)"),
        (axes[1], "cost_per_1m_events", "USD per 1M events"),
    ):
        if x not in frame:
            ax.set_visible(False)
            continue
        for on_front, colour, name in ((False, "darkgray", "beaten (significantly)"), (True, "tab:red", "Pareto front")):
            part = frame[frame["pareto"] == on_front]
            if part.empty:
                continue
            ax.errorbar(
                part[x],
                part[quality],
                xerr=_frame_errors(part, x),
                yerr=_frame_errors(part, quality),
                fmt="o",
                color=colour,
                ecolor=colour,
                alpha=0.8,
                capsize=3,
                label=name,
            )
        for k, (_, row) in enumerate(frame.iterrows()):  # staggered, so runs at the same spot stay readable
            ax.annotate(
                row["name"],
                (row[x], row[quality]),
                fontsize=8,
                xytext=(5, 4 - 11 * (k % 3)),
                textcoords="offset points",
                color="black" if row["pareto"] else "dimgray",
            )
        if baseline is not None and (frame["run_id"] == baseline).any():
            row = frame[frame["run_id"] == baseline].iloc[0]
            ax.scatter([row[x]], [row[quality]], s=220, facecolors="none", edgecolors="tab:blue", linewidths=2, label="baseline")
        ax.set_xlabel(label)
        ax.set_ylabel(quality)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{quality} against latency and cost, 95% intervals; off the front only when significantly beaten")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _frame_errors(part: Any, metric: str) -> Any:
    """Error bars for a column from its `_ci_low`/`_ci_high` columns (zero where a run has none)."""
    if f"{metric}_ci_low" not in part:
        return None
    values = part[metric].to_numpy(dtype=float)
    low, high = part[f"{metric}_ci_low"].to_numpy(dtype=float), part[f"{metric}_ci_high"].to_numpy(dtype=float)
    return _errors(list(values), list(zip(low, high)))
