"""How an exported bundle runs in AWS (`deploy`) and what it costs there (`pricing`).

`deploy` is part of `config_id`: memory, concurrency, FIFO ordering or a canary change what runs. `pricing` is
not: a new price changes the estimate, not the pipeline. Combinations AWS would refuse at deploy time (a
provisioned concurrency without an alias, more pollers than the reserved concurrency, a FIFO batch over 10) are
refused here, at load, naming the field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from workbench.sections import Section

# SAM's DeploymentPreference types (CodeDeploy's predefined Lambda configurations).
Deployment = Literal[
    "AllAtOnce",
    "Canary10Percent5Minutes",
    "Canary10Percent10Minutes",
    "Canary10Percent15Minutes",
    "Canary10Percent30Minutes",
    "Linear10PercentEvery1Minute",
    "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes",
    "Linear10PercentEvery10Minutes",
]


class DeployConfig(Section):
    """How the exported Lambda runs; read by export and by the cost model."""

    memory_mb: int = Field(1024, ge=128, le=10240)
    timeout_s: int = Field(30, ge=1, le=900)
    reserved_concurrency: int = Field(50, ge=1)
    sqs_batch_size: int = Field(10, ge=1, le=10000)
    batching_window_s: int = Field(
        0, ge=0, le=300, description="SQS event source batching window; AWS needs >= 1 for batches over 10"
    )
    max_receive_count: int = Field(5, ge=1)
    orchestration: Literal["function", "step_functions"] = Field(
        "function", description="one Lambda per event, or a Step Functions workflow Embed -> Retrieve -> Reason -> Act"
    )
    architecture: Literal["x86_64", "arm64"] = Field("x86_64", description="arm64 (Graviton) costs 20% less per GB-second")
    fifo: bool = Field(False, description="SNS FIFO -> SQS FIFO, message group <tenant>#<user_id>: each user's events in order")
    max_concurrency: int | None = Field(
        None,
        ge=2,
        le=1000,
        description="at most this many concurrent invocations from the "
        "queue (the SQS event source's MaximumConcurrency); none: up to reserved_concurrency",
    )
    alias: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9]+$",
        description="publish a version and this alias on every deploy "
        "(SAM AutoPublishAlias); needed by provisioned_concurrency and a gradual deployment",
    )
    provisioned_concurrency: int = Field(
        0, ge=0, description="execution environments kept initialised (model loaded) on the alias"
    )
    deployment: Deployment = Field(
        "AllAtOnce",
        description="how CodeDeploy shifts traffic to a new version; a canary or "
        "linear deployment rolls back when an alarm fires",
    )
    pinecone_cloud: Literal["aws", "gcp", "azure"] = "aws"
    pinecone_region: str = "us-east-1"

    @model_validator(mode="after")
    def _deployable(self) -> "DeployConfig":
        if self.fifo and self.orchestration == "step_functions":
            raise ValueError(
                "fifo with orchestration step_functions: the workflow's executions run concurrently, so a "
                "user's events would no longer be handled in order; use orchestration: function"
            )
        if self.fifo and self.sqs_batch_size > 10:
            raise ValueError(f"sqs_batch_size {self.sqs_batch_size}: a FIFO queue delivers at most 10 messages per batch")
        if self.sqs_batch_size > 10 and self.batching_window_s < 1:
            raise ValueError(
                f"sqs_batch_size {self.sqs_batch_size} needs batching_window_s >= 1 (AWS refuses batches over 10 "
                "without a batching window)"
            )
        if self.max_concurrency is not None and self.max_concurrency > self.reserved_concurrency:
            raise ValueError(
                f"max_concurrency {self.max_concurrency} exceeds reserved_concurrency {self.reserved_concurrency}: "
                "the extra pollers would only be throttled"
            )
        if self.provisioned_concurrency and not self.alias:
            raise ValueError("provisioned_concurrency needs an alias (e.g. alias: live): it is configured on a published version")
        if self.provisioned_concurrency > self.reserved_concurrency:
            raise ValueError(
                f"provisioned_concurrency {self.provisioned_concurrency} exceeds reserved_concurrency {self.reserved_concurrency}"
            )
        if self.deployment != "AllAtOnce" and not self.alias:
            raise ValueError(f"deployment {self.deployment} needs an alias (e.g. alias: live): CodeDeploy shifts the alias")
        return self


class PricingConfig(Section):
    """USD price sheet for the cost estimate (us-east-1 list prices). Not part of config_id."""

    lambda_gb_second: float = Field(0.0000166667, ge=0)
    lambda_arm_gb_second: float = Field(0.0000133334, ge=0)
    lambda_per_million_requests: float = Field(0.20, ge=0)
    vector_read_units_per_query: float = Field(1.0, ge=0)
    vector_per_million_read_units: float = Field(16.0, ge=0)
    vector_storage_gb_month: float = Field(0.33, ge=0)
    dynamodb_per_million_writes: float = Field(1.25, ge=0)
    dynamodb_per_million_reads: float = Field(0.25, ge=0)
    sqs_per_million_requests: float = Field(0.40, ge=0)
    sqs_fifo_per_million_requests: float = Field(0.50, ge=0)
    sns_per_million_requests: float = Field(0.50, ge=0)
    sns_fifo_per_million_requests: float = Field(
        0.30, ge=0, description="publishes; FIFO payload and delivery fees are not modelled"
    )
    step_functions_per_1k_transitions: float = Field(0.025, ge=0)
    llm_input_per_1k_tokens: float = Field(0.00015, ge=0)
    llm_output_per_1k_tokens: float = Field(0.0006, ge=0)
    embedding_per_1k_tokens: float = Field(0.0, ge=0, description="0 for a model that runs inside the Lambda")
    events_per_month: int = Field(10_000_000, gt=0, description="spreads monthly storage over events")
