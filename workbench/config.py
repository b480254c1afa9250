"""The one configuration that describes a pipeline completely.

Every choice the agent makes (model, index, retrieval, state, reasoning, action) lives in
`AgentConfig`. Its `config_id` (a hash of the canonical JSON, `name` and `pricing` excluded) follows it into
logs, MLflow runs and export bundles, so a result can always be traced to the exact pipeline.
Storage locations (the index server's address too) are not part of it: they belong to the workspace, not the pipeline.
"""

from __future__ import annotations

import hashlib
import json
import string
from functools import partial
from pathlib import Path
from threading import TIMEOUT_MAX  # the longest wait Python can make; past it every call raises OverflowError
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from workbench.deploy.options import DeployConfig, PricingConfig
from workbench.errors import ConfigError
from workbench.filters import checked_filter
from workbench.prompt import DEFAULT_PROMPT
from workbench.redaction import mask_secrets
from workbench.registry import check_kind
from workbench.resilience import ResilienceConfig
from workbench.sections import Section, Url, format_validation_error
from workbench.yamlfile import read_yaml


class EmbedderConfig(Section):
    kind: Annotated[str, AfterValidator(partial(check_kind, "embedder"))] = "minilm"
    model: str = "all-MiniLM-L6-v2"
    dimension: int = Field(384, gt=0)
    batch_size: int = Field(32, gt=0)


class HNSWConfig(Section):
    """HNSW graph parameters; `search_ef` can change without re-indexing (even on an open index), the others cannot.

    The defaults give recall@10 0.997 against exact search on 20k real MiniLM sentence vectors
    (benchmarks/ann_recall.py, docs/benchmarks.md); every evaluation logs the recall it got (`ann_recall_at_k`)."""

    max_neighbors: int = Field(16, gt=1)
    construction_ef: int = Field(100, gt=0)
    search_ef: int = Field(100, gt=0)


class IndexConfig(Section):
    kind: Annotated[str, AfterValidator(partial(check_kind, "index"))] = "chroma"
    collection: str = Field("workbench", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$")
    distance: Literal["cosine", "l2", "ip"] = "cosine"
    hnsw: HNSWConfig = HNSWConfig()
    host: str | None = Field(None, pattern=r"^[^\s/@]+$", description="Chroma server (TLS, auth: README); None: embedded")
    port: int = Field(8000, ge=1, le=65535)

    @model_validator(mode="after")
    def _port_needs_a_host(self) -> "IndexConfig":
        if self.host is None and self.port != type(self).model_fields["port"].default:  # a dumped default config loads
            raise ValueError(
                f"port {self.port} is set without host: set index.host to the Chroma server's name "
                "(the embedded client has no port)"
            )
        return self


class ChunkingConfig(Section):
    splitter: Literal["recursive", "character", "markdown"] = "recursive"
    size: int = Field(800, gt=0)
    overlap: int = Field(100, ge=0)
    sentence_vectors: bool = Field(
        True,
        description="embed each chunk's sentences at ingest and store them with it, "
        "so the extractive reasoner embeds no sentence when it answers",
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> "ChunkingConfig":
        if self.overlap >= self.size:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than size ({self.size})")
        return self


class HybridConfig(Section):
    """BM25 keyword retrieval combined with vector retrieval (off by default).

    `sparse_dense` is Pinecone's hybrid score, alpha * dense + (1 - alpha) * BM25 sparse, exported as is;
    `rrf` and `weighted` (bm25s fusion) are for local exploration and cannot be exported."""

    enabled: bool = False
    method: Literal["rrf", "weighted", "sparse_dense"] = "rrf"
    weight: float = Field(0.5, ge=0, le=1, description="share of the vector score: weighted fusion, and alpha of sparse_dense")
    rrf_k: int = Field(60, ge=1)
    candidates: int = Field(20, ge=1, le=200, description="hits taken from each retriever before fusion or re-scoring")

    @model_validator(mode="after")
    def _alpha_above_zero(self) -> "HybridConfig":
        if self.method == "sparse_dense" and self.weight == 0:
            raise ValueError(
                "sparse_dense with weight (alpha) 0 sends Pinecone an all-zero dense vector, which it rejects; "
                "use a small alpha such as 0.05 for a keyword-led ranking"
            )
        return self


class RetrievalConfig(Section):
    top_k: int = Field(5, gt=0, le=100)
    filter: Annotated[dict[str, Any] | None, AfterValidator(checked_filter)] = None
    tenant_field: str = Field("tenant", min_length=1)
    chunking: ChunkingConfig = ChunkingConfig()
    hybrid: HybridConfig = HybridConfig()


class StateConfig(Section):
    """Where conversations live and how many turns of each are kept (history counts turns everywhere, never messages)."""

    kind: Annotated[str, AfterValidator(partial(check_kind, "state"))] = "sqlite"
    max_turns: int = Field(10, gt=0, description="turns (question and answer) kept per conversation; the oldest go first")
    ttl_days: float = Field(30, gt=0)
    table: str = "agent-state"

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "history_cap" in data:
            cap = data["history_cap"]
            turns = f"max_turns: {cap // 2}" if isinstance(cap, int) and not isinstance(cap, bool) and cap > 1 else "max_turns"
            raise ValueError(f"history_cap (messages) is now max_turns (turns, a question and its answer): write {turns}")
        return data


class ReasonerConfig(Section):
    kind: Annotated[str, AfterValidator(partial(check_kind, "reasoner"))] = "extractive"
    provider: str | None = None
    model: str | None = None
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(512, gt=0)
    prompt_template: str = DEFAULT_PROMPT
    history_turns: int = Field(5, ge=0, description="turns (question and answer) of the kept history shown in the prompt")
    max_sentences: int = Field(1, gt=0, description="extractive: how many best sentences answer, each with its window")
    max_answer_words: int = Field(50, gt=0, description="extractive: a sentence brings a neighbour only within this many words")
    min_score: float = Field(0.2, ge=-1, le=1)

    @field_validator("prompt_template")
    @classmethod
    def _has_placeholders(cls, v: str) -> str:
        names = {name for _, name, _, _ in string.Formatter().parse(v) if name is not None}
        missing = {"context", "question"} - names
        unknown = names - {"context", "history", "question"}
        if missing:
            raise ValueError(f"prompt_template lacks placeholder(s) {sorted(missing)}")
        if unknown:
            raise ValueError(f"prompt_template has unknown placeholder(s) {sorted(unknown)}")
        return v

    @model_validator(mode="after")
    def _llm_needs_model(self) -> "ReasonerConfig":
        if self.kind == "langchain" and not (self.provider and self.model):
            raise ValueError("the langchain reasoner needs both provider and model (e.g. provider: openai, model: gpt-4o-mini)")
        return self


class ActuatorConfig(Section):
    kind: Annotated[str, AfterValidator(partial(check_kind, "actuator"))] = "outbox"
    url: Url = None
    url_env: str | None = Field(None, description="environment variable holding the URL: where a secret URL belongs")
    timeout_s: float = Field(5.0, gt=0, le=TIMEOUT_MAX)

    @model_validator(mode="after")
    def _remote_needs_url(self) -> "ActuatorConfig":
        if self.kind in ("slack", "http") and not (self.url or self.url_env):
            raise ValueError(f"the {self.kind} actuator needs url or url_env")
        return self


class EscalationConfig(Section):
    """Hand a user to a human after `after` declined answers in a row (0: never), through `actuator`
    (an HTTP ticket endpoint, or a Slack channel the humans watch)."""

    after: int = Field(0, ge=0)
    actuator: ActuatorConfig = ActuatorConfig()


class LogConfig(Section):
    """Where every decision is appended (jsonl locally; a DynamoDB table with a stream in the export)."""

    kind: Annotated[str, AfterValidator(partial(check_kind, "log"))] = "jsonl"


class ObservabilityConfig(Section):
    """OpenTelemetry spans per stage (with the correlation id); off, to the console, or to an OTLP collector."""

    tracing: Literal["none", "console", "otlp"] = "none"
    otlp_endpoint: Url = None
    service_name: str = "agent-workbench"


class PrivacyConfig(Section):
    """What is redacted from user and assistant text before it is persisted or logged."""

    redact: list[Literal["email", "phone", "card", "iban", "aws_key"]] = ["email", "phone", "card", "iban", "aws_key"]


class AgentConfig(Section):
    """A complete pipeline. Example::

    cfg = AgentConfig.from_yaml("experiments/default.yaml")
    cfg.config_id  # 'c3f1a9e0b2d4'
    """

    name: str = "default"
    embedder: EmbedderConfig = EmbedderConfig()
    index: IndexConfig = IndexConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    state: StateConfig = StateConfig()
    reasoner: ReasonerConfig = ReasonerConfig()
    actuator: ActuatorConfig = ActuatorConfig()
    escalation: EscalationConfig = EscalationConfig()
    log: LogConfig = LogConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    resilience: ResilienceConfig = ResilienceConfig()
    deploy: DeployConfig = DeployConfig()
    pricing: PricingConfig = PricingConfig()

    @property
    def config_id(self) -> str:
        pipeline = self.model_dump(mode="json", exclude={"name": True, "pricing": True, "index": {"host", "port"}})
        canonical = json.dumps(pipeline, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: Any, source: str = "config") -> "AgentConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of sections, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, source)) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> "AgentConfig":
        data = read_yaml(Path(path), ConfigError, f"write one with `workbench config show > {path}`")
        return cls.from_dict(data, source=str(path))

    def shown(self) -> dict[str, Any]:
        """The config as it may be shown, logged or tracked: secrets in URLs masked (see `redaction.mask_urls`)."""
        return mask_secrets(self.model_dump(mode="json"))  # type: ignore[return-value]

    def to_yaml(self, reveal_secrets: bool = False) -> str:
        """YAML for people and trackers, secrets masked; `save` alone writes them, to a file the user owns."""
        import yaml

        data = self.model_dump(mode="json") if reveal_secrets else self.shown()
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_yaml(reveal_secrets=True), encoding="utf-8")
        return path

    def with_overrides(self, overrides: dict[str, Any]) -> "AgentConfig":
        """A copy with dotted-path overrides applied, e.g. {"retrieval.top_k": 3}."""
        data = self.model_dump(mode="json")
        for dotted, value in overrides.items():
            node = data
            *parents, leaf = dotted.split(".")
            for key in parents:
                if not isinstance(node.get(key), dict):
                    raise ConfigError(f"override {dotted!r}: {key!r} is not a config section")
                node = node[key]
            node[leaf] = value
        return AgentConfig.from_dict(data, source="overrides")
