"""Estimated cost per 1M events, from measured behaviour and the config's price sheet.

Lambda: GB-seconds at the configured memory for the measured mean latency, plus requests.
Vector store: read units per query, plus storage spread over the month's events.
DynamoDB: one read and ceil(item KB) write units per turn (on-demand).
LLM and embedding tokens: as the reasoner reports them; question tokens estimated at 4 chars each.
"""

from __future__ import annotations

import math

from workbench.config import AgentConfig

PER = 1_000_000


def cost_per_million_events(cfg: AgentConfig, mean_latency_ms: float, mean_input_tokens: float, mean_output_tokens: float,
                            mean_question_chars: float, mean_item_bytes: float, index_vectors: int) -> dict[str, float]:
    p, d = cfg.pricing, cfg.deploy
    lam = (d.memory_mb / 1024) * (mean_latency_ms / 1000) * p.lambda_gb_second * PER + p.lambda_per_million_requests
    storage_gb = index_vectors * (cfg.embedder.dimension * 4 + 512) / 1e9  # vector plus ~0.5 KB metadata each
    vector = p.vector_read_units_per_query * p.vector_per_million_read_units + \
        storage_gb * p.vector_storage_gb_month * PER / p.events_per_month
    write_units = max(1, math.ceil(mean_item_bytes / 1024))
    read_units = max(1, math.ceil(mean_item_bytes / 4096))
    dynamo = write_units * p.dynamodb_per_million_writes + read_units * p.dynamodb_per_million_reads
    llm = (mean_input_tokens * p.llm_input_per_1k_tokens + mean_output_tokens * p.llm_output_per_1k_tokens) / 1000 * PER
    embedding = (mean_question_chars / 4) * p.embedding_per_1k_tokens / 1000 * PER
    parts = {"cost_lambda": lam, "cost_vector": vector, "cost_dynamodb": dynamo, "cost_llm": llm, "cost_embedding": embedding}
    parts = {k: round(v, 4) for k, v in parts.items()}
    parts["cost_per_1m_events"] = round(sum(parts.values()), 4)
    return parts
