"""One evaluation's figures from its per-question table: means with 95% intervals, latency, cost.

Quality: a question's value is its mean over repeats, and the interval is a bootstrap over questions.
Latency and cost: computed per repeat and averaged; the interval is a t interval over repeats when there are
two or more, else a bootstrap over the questions of the one repeat. Intervals are logged as `<metric>_ci_low`
and `<metric>_ci_high`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from workbench.config import AgentConfig
from workbench.lab.aws_usage import Usage
from workbench.lab.cost import cost_per_million_events
from workbench.lab.scorers import SCORERS
from workbench.lab.stats import bootstrap_ci, quantile_of, t_interval

STAGES = ("embed", "retrieve", "load_state", "build_prompt", "reason", "persist_state", "act", "total")
QUALITY = tuple(s.name for s in SCORERS)
WITH_INTERVALS = ("latency_total_p50_ms", "latency_total_p95_ms", "latency_total_p99_ms", "cost_per_1m_events")
QUESTION = ["case_id", "turn"]  # what identifies a question across repeats and runs
_PERCENTILE = re.compile(r"latency_([a-z_]+)_p(\d{2})_ms")


def lower_is_better(metric: str) -> bool:
    return metric.startswith(("latency_", "cost_")) or metric in ("decline_rate", "escalation_rate")


def quality_columns(table: Any) -> list[str]:
    """The quality metrics this table has values for, in a fixed order."""
    return [c for c in QUALITY if c in table and table[c].notna().any()]


def statistic_of(metric: str) -> tuple[str, Any]:
    """The per-question column a run-level metric is computed from, and how (a mean, or a latency percentile)."""
    found = _PERCENTILE.fullmatch(metric)
    if found and found[1] in STAGES:
        return f"latency_{found[1]}_ms", quantile_of(int(found[2]) / 100)
    return metric, np.mean


def row_costs(table: Any, config: AgentConfig, usage: Usage, index_vectors: int) -> list[float]:
    """Each question's cost per 1M events: the cost model is linear in what varies per question, so their mean is the run's."""
    return [
        cost_per_million_events(
            config, usage, r.latency_total_ms, r.input_tokens, r.output_tokens, len(r.question), index_vectors
        )["cost_per_1m_events"]
        for r in table.itertuples()
    ]


def summarize(table: Any, config: AgentConfig, usage: Usage, index_vectors: int) -> dict[str, float]:
    """`usage`: the AWS requests and capacity units one event spends, as the exported stack would (`aws_usage`)."""
    out: dict[str, float] = {}
    names = quality_columns(table)
    per_question = table.groupby(QUESTION, sort=False)[names].mean()
    for name in names:
        values = per_question[name].to_numpy(dtype=float)
        out[name] = float(np.nanmean(values))
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = bootstrap_ci(values)
    repeats = [part for _, part in table.groupby("repeat", sort=True)]
    each = [_operations(part, config, usage, index_vectors) for part in repeats]
    for key in each[0]:
        out[key] = float(np.mean([e[key] for e in each]))
    for key in WITH_INTERVALS:
        out[f"{key}_ci_low"], out[f"{key}_ci_high"] = interval(table, key)
    return out


def interval(table: Any, metric: str) -> tuple[float, float]:
    """A latency or cost figure's 95% interval: a t interval over repeats when there are two or more, else a
    bootstrap over the questions (the machine's state during the run is then not sampled)."""
    column, statistic = statistic_of(metric)
    values = table[column].to_numpy(dtype=float)
    each = [
        float(statistic(part[None, :], axis=1)[0])
        for part in (values[table["repeat"].to_numpy() == r] for r in sorted(set(table["repeat"])))
    ]
    low, high = t_interval(each) if len(each) > 1 else bootstrap_ci(values, statistic)
    return max(low, 0.0) if low == low else low, high  # a time or a price is never negative; a t interval can be


def _operations(table: Any, config: AgentConfig, usage: Usage, index_vectors: int) -> dict[str, float]:
    out = {}
    for stage in STAGES:
        col = table[f"latency_{stage}_ms"]
        for q in (50, 95, 99):
            out[f"latency_{stage}_p{q}_ms"] = float(col.quantile(q / 100))
    # The seed article's metric names, so dashboards built on them keep working.
    out["embedding_latency_ms"] = float(table["latency_embed_ms"].mean())
    out["vector_search_latency_ms"] = float(table["latency_retrieve_ms"].mean())
    out["llm_token_usage"] = float((table["input_tokens"] + table["output_tokens"]).mean())
    out["decline_rate"] = float(table["declined"].mean())
    out["escalation_rate"] = float(table["escalated"].mean())
    out.update(usage.as_dict())
    out.update(
        cost_per_million_events(
            config,
            usage,
            mean_latency_ms=float(table["latency_total_ms"].mean()),
            mean_input_tokens=float(table["input_tokens"].mean()),
            mean_output_tokens=float(table["output_tokens"].mean()),
            mean_question_chars=float(table["question"].str.len().mean()),
            index_vectors=index_vectors,
        )
    )
    return out
