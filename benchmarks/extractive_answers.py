"""Answer quality of the default pipeline on SQuAD: how often the answer holds a gold span, and how long it is.

    python benchmarks/extractive_answers.py [--squad FILE] [--top-k 10] [--max-answer-words 50] [--home DIR] [--limit N]

The first question of every paragraph (913 for the bundled file), the default config with `retrieval.top_k`
set, the real MiniLM, through `evaluate` (the same loop and metrics as `workbench eval`). Answer length is
counted in SQuAD-normalised tokens. Target (issue 15): >= 0.80 of answers contain a gold span, mean length
<= 40 tokens. The first run embeds the corpus (minutes); the workspace keeps the index and the cache.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from workbench.config import AgentConfig
from workbench.lab.evalsets import DatasetSpec
from workbench.lab.evaluate import evaluate
from workbench.lab.scorers.span_metrics import answer_tokens, contains_reference, token_f1
from workbench.workspace import Workspace

SHOWN = ("exact_match", "rouge_score", "semantic_similarity", "hit_rate_at_k", "decline_rate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=Path("datasets/squad-v1.1-dev-24/dev-v1.1-first24.json"))
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--max-answer-words", type=int, default=None, help="reasoner.max_answer_words (1: no window)")
    parser.add_argument("--home", type=Path, default=Path(".workbench/benchmarks/extractive"))
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N questions only")
    args = parser.parse_args()

    overrides = {"retrieval.top_k": args.top_k}
    if args.max_answer_words is not None:  # a workbench before issue 15 has no such field: leave it out there
        overrides["reasoner.max_answer_words"] = args.max_answer_words
    cfg = AgentConfig(name=f"extractive-top{args.top_k}").with_overrides(overrides)
    start = time.perf_counter()
    result = evaluate(cfg, DatasetSpec(corpus=args.squad, limit=args.limit), Workspace(args.home), progress=True)
    references = {case.case_id: case.turns[0].answers for case in result.evalset.cases}
    table = result.table
    # Scored here from the answers, not read from the table's columns, so the same script measures a
    # workbench from before these metrics existed (docs/benchmarks.md gives both commits).
    contained = [contains_reference(a, references[c]) for a, c in zip(table["answer"], table["case_id"])]
    f1 = [token_f1(a, references[c]) for a, c in zip(table["answer"], table["case_id"])]
    lengths = [len(answer_tokens(a)) for a in table["answer"]]
    report = {
        "questions": len(table),
        "top_k": args.top_k,
        "contains_gold_span": round(sum(contained) / len(table), 4),
        "token_f1": round(sum(f1) / len(table), 4),
        "mean_answer_tokens": round(sum(lengths) / len(table), 1),
        **{k: round(result.metrics[k], 4) for k in SHOWN if k in result.metrics},
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
