"""The questions whose retrieved documents or answers changed between two evaluation runs, with their scores.

Hits and answers are those of each run's first repeat; scores are means over repeats. Questions are matched by
(case_id, turn) and their text, so the two runs may have asked them in any order.
"""

from __future__ import annotations

from typing import Any

from workbench.errors import DataError
from workbench.lab.paired import RunData, same_questions
from workbench.lab.summary import QUESTION, quality_columns

SHOWN = ("ndcg_at_10", "hit_rate_at_k", "semantic_similarity")  # the scores the text table shows; JSON has them all


def changed(a: RunData, b: RunData) -> list[dict[str, Any]]:
    """One record per question present in both runs whose retrieved list or answer differs."""
    first = [run.table[run.table["repeat"] == run.table["repeat"].min()].set_index(QUESTION) for run in (a, b)]
    metrics = [m for m in quality_columns(a.table) if m in b.table]
    scores = [run.table.groupby(QUESTION)[metrics].mean() for run in (a, b)]
    common = same_questions(a, b)
    if not len(common):
        raise DataError(
            f"runs {a.run_id} and {b.run_id} share no question (the same text under the same case_id and turn): "
            "were they evaluated on the same eval set?"
        )
    out = []
    for key in common:
        left, right = first[0].loc[key], first[1].loc[key]
        hits = list(left["retrieved"]) != list(right["retrieved"])
        answer = left["answer"] != right["answer"]
        if not (hits or answer):
            continue
        out.append(
            {
                "case_id": key[0],
                "turn": int(key[1]),
                "question": left["question"],
                "changed": [what for what, flag in (("hits", hits), ("answer", answer)) if flag],
                "hits_a": list(left["retrieved"]),
                "hits_b": list(right["retrieved"]),
                "answer_a": left["answer"],
                "answer_b": right["answer"],
                "scores_a": _known(scores[0].loc[key]),
                "scores_b": _known(scores[1].loc[key]),
            }
        )
    return out


def as_table(records: list[dict[str, Any]], a: RunData, b: RunData, width: int = 60) -> str:
    """A plain-text listing: one block per changed question."""
    if not records:
        return f"no question changed its hits or answer between {a.name} ({a.run_id[:8]}) and {b.name} ({b.run_id[:8]})"
    lines = [f"{len(records)} questions changed: A = {a.name} ({a.run_id[:8]}), B = {b.name} ({b.run_id[:8]})"]
    for r in records:
        scores = "  ".join(
            f"{m} {r['scores_a'][m]:.3f} -> {r['scores_b'][m]:.3f}" for m in SHOWN if m in r["scores_a"] and m in r["scores_b"]
        )
        lines += [
            f"\n[{r['case_id']}:{r['turn']}] {_cut(r['question'], width)}  (changed: {', '.join(r['changed'])})",
            f"  hits   A {', '.join(r['hits_a'][:5])}",
            f"         B {', '.join(r['hits_b'][:5])}",
            f"  answer A {_cut(r['answer_a'], width)}",
            f"         B {_cut(r['answer_b'], width)}",
            f"  {scores}",
        ]
    return "\n".join(lines)


def _known(row: Any) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in row.items() if v == v}


def _cut(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"
