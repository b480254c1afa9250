"""The bundle's README: how to deploy it, what it runs as, what it costs per event and what the export checked."""

from __future__ import annotations

import time
from typing import Any

from workbench.config import AgentConfig
from workbench.deploy.monitoring import LOG_RETENTION_DAYS

USAGE_ROWS = {
    "dynamodb_write_units": "DynamoDB write units",
    "dynamodb_read_units": "DynamoDB read units (strongly consistent)",
    "sqs_requests": "SQS requests",
    "sns_requests": "SNS publishes",
    "lambda_requests": "Lambda invocations",
    "transitions": "Step Functions state transitions",
    "vector_queries": "Pinecone queries",
}


def readme(cfg: AgentConfig, run_id: str | None, metrics: dict[str, float], checks: dict[str, Any]) -> str:
    d = cfg.deploy
    check_lines = "\n".join(f"- {k}: {v}" for k, v in checks.items())
    options = [
        f"{d.architecture}",
        f"{d.memory_mb} MB",
        f"timeout {d.timeout_s} s",
        f"reserved concurrency {d.reserved_concurrency}",
        *([f"at most {d.max_concurrency} concurrent invocations from the queue"] if d.max_concurrency else []),
        *([f"alias `{d.alias}`"] if d.alias else []),
        *([f"{d.provisioned_concurrency} provisioned (initialised) environments"] if d.provisioned_concurrency else []),
        *(
            [f"{d.deployment} deployments that roll back on the error-rate and latency alarms"]
            if d.deployment != "AllAtOnce"
            else []
        ),
    ]
    flow = (
        "SNS FIFO topic → SQS FIFO queue (message group `<tenant>#<user_id>`: each user's events in order)"
        if d.fifo
        else "SNS topic → SQS queue"
    )
    consumer = (
        "a starter function → a Step Functions workflow Embed → Retrieve → Reason → Act, each step its own function"
        if d.orchestration == "step_functions"
        else "Lambda"
    )
    return f"""# {cfg.name}: Agent Workbench export

config_id `{cfg.config_id}`, MLflow run `{run_id or "-"}`, exported {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}.

{flow} (DLQ after {d.max_receive_count} receives, bad input at once, redacted, with its `error` and `source`; visibility {6 * d.timeout_s} s, batches of {d.sqs_batch_size}, partial batch
responses) → {consumer} (Python 3.12 container image, {", ".join(options)}; X-Ray tracing) → Pinecone (retrieval) + DynamoDB
(state, idempotency, the decision ledger with its stream).

## Deploy

1. Create the Pinecone index from `pinecone_index.json` and copy the evaluated collection into it:
   `workbench pinecone-load --run {run_id or "RUN_ID"} --host https://<your-index-host>` (PINECONE_API_KEY in the environment).
2. Store the Pinecone API key in Secrets Manager: `aws secretsmanager create-secret --name agent-workbench/pinecone --secret-string "$PINECONE_API_KEY"`.
3. `sam build && sam deploy --guided` (answer PineconeHost with the index host). `sam build` builds the container
   image, so it needs Docker running. There is no zip build: numpy and onnxruntime at the evaluated versions have
   no manylinux2014 wheels, and the model with its runtime exceeds a zip's 250 MB (sizes below).
4. Subscribe on-call to the `AlarmTopicArn` output: alarms fire on an error rate above 1%, p99 duration above twice
   the median, any message in the DLQ, and a queued event older than the visibility timeout. The `Dashboard` shows
   invocations, latency, the queues, records by outcome (`records_handled`, `records_duplicate`, `records_rejected`,
   `records_failed`, `records_in_progress`) and stage latencies. Logs are kept {LOG_RETENTION_DAYS} days.
5. Publish events to the `TopicArn` output.{_fifo_note(cfg)}

The image installs `requirements.lock`: every package pinned with the sha256 of its wheel, resolved at export for
this function's platform from `requirements.txt` (what the handler imports, at the versions the workbench evaluated).
The embedder is all-MiniLM-L6-v2 run with ONNX Runtime from `model/`, converted at export from the same weights the
workbench evaluated and checked against them (max abs difference in the checks below). `handler.py` builds the agent
at import, in the init phase, so a provisioned environment has the model loaded before its first event; the Pinecone
key is read from Secrets Manager there too, once (X-Ray shows it inside Lambda's Initialization segment; each
invocation's trace has a subsegment per backend call: `pinecone.query`, `dynamodb.state.*`, `dynamodb.ledger.*`,
`onnx.embed`, and every DynamoDB request).
Powertools is vendored through the lock, not taken from the public layer: image functions cannot use layers.
Each function's role names its own resources only: the queue mapping is an explicit event source mapping with
receive and delete on this queue (SAM's SQS event would grant them on every queue), and each Step Functions step
holds only what it calls (Embed nothing, Retrieve the Pinecone secret, Reason the state table, Act the ledger).

{cost_section(metrics)}

## Self-checks at export

{check_lines}
"""


def _fifo_note(cfg: AgentConfig) -> str:
    if not cfg.deploy.fifo:
        return ""
    return (
        "\n   FIFO: publish with `--message-group-id <tenant>#<user_id>` and `--message-deduplication-id` set to a "
        "hash of `<tenant>#<event_id>` (`workbench.events.fifo_ids` computes both), so each user's events are handled "
        "in order and a republished event is dropped by SNS within its 5-minute window (the ledger drops it after)."
    )


def cost_section(metrics: dict[str, float]) -> str:
    usage = [f"| {label} | {metrics[f'usage_{k}']:.2f} |" for k, label in USAGE_ROWS.items() if f"usage_{k}" in metrics]
    cost = [f"| {k.removeprefix('cost_').replace('_', ' ')} | ${v:,.2f} |" for k, v in metrics.items() if k.startswith("cost_")]
    if not cost:
        return "## Cost estimate\n\nExport from an MLflow run (`--run` or `--promoted`) to see the evaluated estimate."
    return f"""## Cost estimate per 1M events (from the evaluation)

What one event uses, predicted from the evaluated turns (DynamoDB units from the sizes of the items the handler
writes; full SQS batches assumed: smaller batches add receives, deletes and invocations):

| per event | units |
|---|---|
{chr(10).join(usage)}

| component | USD |
|---|---|
{chr(10).join(cost)}

Lambda is priced at the mean latency measured in the evaluation, where the embedding cache serves repeated texts; the
function embeds uncached, so expect its duration higher (benchmarks/export_handler.py measures it). CloudWatch,
X-Ray, Secrets Manager (one read per cold start) and data transfer are not included."""
