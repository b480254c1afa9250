"""Estimated cost per 1M events, from measured behaviour, the AWS usage it implies and the config's price sheet.

Lambda: GB-seconds at the configured memory and architecture for the measured mean latency, plus invocations.
Vector store: read units per query, plus storage spread over the month's events.
DynamoDB, SQS, SNS, Step Functions: the per-event `Usage` (see `aws_usage`) at on-demand prices.
LLM and embedding tokens: as the reasoner reports them; question tokens estimated at 4 chars each.
Not modelled: CloudWatch logs and metrics, X-Ray traces, Secrets Manager (one read per cold start), data transfer.
"""

from __future__ import annotations

from workbench.config import AgentConfig
from workbench.lab.aws_usage import Usage

PER = 1_000_000


def cost_per_million_events(
    cfg: AgentConfig,
    usage: Usage,
    mean_latency_ms: float,
    mean_input_tokens: float,
    mean_output_tokens: float,
    mean_question_chars: float,
    index_vectors: int,
) -> dict[str, float]:
    p, d = cfg.pricing, cfg.deploy
    gb_second = p.lambda_arm_gb_second if d.architecture == "arm64" else p.lambda_gb_second
    lam = (d.memory_mb / 1024) * (
        mean_latency_ms / 1000
    ) * gb_second * PER + usage.lambda_requests * p.lambda_per_million_requests
    storage_gb = index_vectors * (cfg.embedder.dimension * 4 + 512) / 1e9  # vector plus ~0.5 KB metadata each
    vector = (
        usage.vector_queries * p.vector_read_units_per_query * p.vector_per_million_read_units
        + storage_gb * p.vector_storage_gb_month * PER / p.events_per_month
    )
    parts = {
        "cost_lambda": lam,
        "cost_vector": vector,
        "cost_dynamodb": usage.dynamodb_write_units * p.dynamodb_per_million_writes
        + usage.dynamodb_read_units * p.dynamodb_per_million_reads,
        "cost_sqs": usage.sqs_requests * (p.sqs_fifo_per_million_requests if d.fifo else p.sqs_per_million_requests),
        "cost_sns": usage.sns_requests * (p.sns_fifo_per_million_requests if d.fifo else p.sns_per_million_requests),
        "cost_step_functions": usage.transitions * p.step_functions_per_1k_transitions * 1000,
        "cost_llm": (mean_input_tokens * p.llm_input_per_1k_tokens + mean_output_tokens * p.llm_output_per_1k_tokens)
        / 1000
        * PER,
        "cost_embedding": (mean_question_chars / 4) * p.embedding_per_1k_tokens / 1000 * PER,
    }
    parts = {k: round(v, 4) for k, v in parts.items()}
    parts["cost_per_1m_events"] = round(sum(parts.values()), 4)
    return parts
