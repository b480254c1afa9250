"""What the exported backends can hold, checked at export rather than found at the first large decision.

A decision is one item of the decision table (the delivery core's ledger), and DynamoDB refuses an item over 400 KB.
The ledger stores it compressed, but compression cannot be counted on (text can be incompressible), so the bound is
on the raw JSON: every character at UTF-8's 4 bytes, every retrieved chunk at `retrieval.chunking.size` characters,
the question and each user turn of the prompt's history at the event text limit.
"""

from __future__ import annotations

from typing import Any

from workbench.events import MAX_TEXT_CHARS

DYNAMODB_ITEM_BYTES = 400 * 1024
BYTES_PER_CHAR = 4  # UTF-8's longest character
PER_HIT_CHARS = 300  # a hit's id, score, title and separators, in the hits, contexts and prompt
CHARS_PER_TOKEN = 8  # an LLM answer's bound from reasoner.max_tokens (English averages about 4)
FIXED_CHARS = 2_000  # ids, config_id, latencies, token counts, key names


def worst_case_decision_bytes(cfg: Any) -> int:
    k, size, turns = cfg.retrieval.top_k, cfg.retrieval.chunking.size, cfg.reasoner.history_turns
    extractive = cfg.reasoner.kind == "extractive"
    answer = min(cfg.reasoner.max_sentences, k) * size if extractive else cfg.reasoner.max_tokens * CHARS_PER_TOKEN
    contexts = k * (size + PER_HIT_CHARS)
    prompt = len(cfg.reasoner.prompt_template) + contexts + turns * (MAX_TEXT_CHARS + answer + 20) + MAX_TEXT_CHARS
    return BYTES_PER_CHAR * (FIXED_CHARS + MAX_TEXT_CHARS + answer + contexts + prompt + k * PER_HIT_CHARS)


def check_decision_fits(cfg: Any) -> None:
    """Raise ValueError naming what to lower when the largest decision `cfg` can make would not fit one item."""
    worst = worst_case_decision_bytes(cfg)
    if worst > DYNAMODB_ITEM_BYTES:
        raise ValueError(
            f"a decision of this config can reach {worst:,} bytes, over DynamoDB's {DYNAMODB_ITEM_BYTES:,}-byte item "
            f"limit (the decision table holds each one whole): lower retrieval.top_k ({cfg.retrieval.top_k}), "
            f"retrieval.chunking.size ({cfg.retrieval.chunking.size}) or reasoner.history_turns "
            f"({cfg.reasoner.history_turns})"
        )
