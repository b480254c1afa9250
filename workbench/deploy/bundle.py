"""Write an export bundle, refusing anything the cloud backends cannot serve exactly as evaluated.

The bundle is assembled in a temporary folder and moved into place only when every step and
self-check has passed, so a failed export leaves nothing half-done.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from workbench.config import AgentConfig
from workbench.deploy.checks import CheckError, self_checks
from workbench.deploy.limits import check_decision_fits
from workbench.deploy.lock import LockError, lock
from workbench.deploy.readme import readme
from workbench.deploy.template import dockerfile, sam_template

PACKAGE = Path(__file__).resolve().parent.parent
ROOMS = ("serve",)  # shipped whole, beside the core: getting events in and acting once
NOT_SHIPPED = {"cli.py"}  # the command line stays on the workstation


def core_modules() -> list[str]:
    """What every bundle carries, by rule: the core (the package's root modules), serve/, and the deployment options
    the config reads (deploy/options.py); the backends are added by `backend_modules`."""
    root = [p.name for p in sorted(PACKAGE.glob("*.py")) if p.name not in NOT_SHIPPED]
    rooms = [str(p.relative_to(PACKAGE)) for room in ROOMS for p in sorted((PACKAGE / room).glob("*.py"))]
    return [*root, *rooms, "deploy/__init__.py", "deploy/options.py"]


class ExportError(ValueError):
    """The configuration cannot be exported as evaluated; the message says why and what to change."""


@dataclass
class ExportReport:
    out: Path
    config_id: str
    image: bool
    checks: dict[str, Any] = field(default_factory=dict)


def backend_modules(cfg: AgentConfig) -> list[str]:
    """The modules the handler imports for this config, or an ExportError naming what cannot be served."""
    modules = ["embedders/__init__.py", "indexes/__init__.py", "indexes/pinecone.py", "state/__init__.py",
               "state/dynamodb.py", "reasoners/__init__.py", "actuators/__init__.py",
               "decisionlog/__init__.py"]
    if cfg.embedder.kind != "minilm":
        raise ExportError(f"embedder.kind {cfg.embedder.kind!r} cannot be exported: only minilm (run as ONNX in the Lambda) "
                          "is served; the hashing embedder is for tests only")
    modules.append("embedders/onnx_minilm.py")
    if cfg.index.kind not in ("chroma", "pinecone"):
        raise ExportError(f"index.kind {cfg.index.kind!r} has no cloud twin; use chroma (exported to Pinecone) or pinecone")
    hybrid = cfg.retrieval.hybrid
    if hybrid.enabled and hybrid.method != "sparse_dense":
        raise ExportError(f"retrieval.hybrid.method {hybrid.method!r} (bm25s fusion) is for local exploration: Pinecone cannot "
                          "serve it; evaluate with retrieval.hybrid.method: sparse_dense (Pinecone's sparse-dense score, "
                          "exported exactly) or hybrid.enabled: false to export")
    bm25 = ["indexes/sparse/__init__.py", "indexes/sparse/bm25.py", "indexes/sparse/stopwords_en.txt",
            "indexes/sparse/STOPWORDS_LICENSE.md"]
    if hybrid.enabled:
        modules += ["indexes/hybrid.py", *bm25]
    if cfg.index.distance == "l2":
        raise ExportError("index.distance 'l2': Pinecone scores euclidean as a distance, the workbench as a similarity; "
                          "evaluate with cosine or ip to export")
    if cfg.state.kind not in ("sqlite", "dynamodb"):
        raise ExportError(f"state.kind {cfg.state.kind!r} has no cloud twin; use sqlite (exported to DynamoDB) or dynamodb")
    if cfg.reasoner.kind == "extractive":  # its sentence ranking shares the BM25 tokenizer
        modules += ["reasoners/extractive.py", "reasoners/extractive_scoring.py", "reasoners/sentences.py", *bm25]
    else:
        modules.append("reasoners/langchain_chat.py")
    modules.append({"outbox": "actuators/log.py", "http": "actuators/http.py", "slack": "actuators/http.py"}[cfg.actuator.kind])
    if cfg.escalation.after:
        modules.append({"outbox": "actuators/log.py", "http": "actuators/http.py", "slack": "actuators/http.py"}[cfg.escalation.actuator.kind])
    return list(dict.fromkeys(modules))


def requirements(cfg: AgentConfig) -> list[str]:
    """Only what the handler imports, pinned to the versions the workbench evaluated with (boto3 is in the runtime)."""
    names = ["pydantic", "numpy", "tenacity", "python-stdnum", "aws-lambda-powertools", "aws-xray-sdk", "pinecone", "onnxruntime",
             "tokenizers"]
    if sparse_dense(cfg):
        names += ["mmh3"]
    if sparse_dense(cfg) or cfg.reasoner.kind == "extractive":
        names += ["snowballstemmer"]
    if cfg.reasoner.kind == "langchain":
        names += ["langchain", f"langchain-{cfg.reasoner.provider}"]
    if cfg.observability.tracing != "none":
        names += ["opentelemetry-sdk"] + (["opentelemetry-exporter-otlp-proto-grpc"] if cfg.observability.tracing == "otlp" else [])
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            raise ExportError(f"{name} is not installed here; `pip install {name}` and export again") from None
    return pins


def export_bundle(cfg: AgentConfig, out: Path, run_id: str | None = None, metrics: dict[str, float] | None = None,
                  force: bool = False, check_model: bool = True, index_path: Path | None = None) -> ExportReport:
    """`index_path`: the evaluated Chroma index, whose tenants' BM25 parameters a sparse_dense bundle ships."""
    modules = backend_modules(cfg)
    if cfg.shown() != cfg.model_dump(mode="json"):
        raise ExportError("a URL in the config carries a secret (credentials, a token parameter or a webhook path), and a "
                          "bundle is copied, stored and read: put the URL in an environment variable, name it in url_env "
                          "(e.g. actuator.url_env: SLACK_WEBHOOK_URL), and give its value when you deploy (a NoEcho "
                          "parameter of template.yaml)")
    try:
        check_decision_fits(cfg)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    if out.exists() and not force:
        raise ExportError(f"{out} exists; pass --force to replace it")
    if sparse_dense(cfg) and (index_path is None or not Path(index_path).exists()):
        raise ExportError("retrieval.hybrid.method sparse_dense ships the BM25 parameters fitted on the evaluated index: "
                          "export from an evaluated run (--run or --promoted) whose index still exists")
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as tmp:
        draft = Path(tmp) / "bundle"
        for rel in (*core_modules(), *modules):
            (draft / "workbench" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(PACKAGE / rel, draft / "workbench" / rel)
        (draft / "handler.py").write_text(handler_module(cfg))
        (draft / "config.json").write_text(json.dumps({"config_id": cfg.config_id, "mlflow_run_id": run_id,
                                                       "config": cfg.model_dump(mode="json")}, indent=2))
        pins = requirements(cfg)
        (draft / "requirements.txt").write_text("\n".join(pins) + "\n")
        try:
            lock_text, dependencies_mb = lock(pins, cfg.deploy.architecture)
        except LockError as exc:
            raise ExportError(f"requirements.lock: {exc}") from None
        (draft / "requirements.lock").write_text(lock_text)
        (draft / "template.yaml").write_text(_yaml(sam_template(cfg, run_id)))
        if sparse_dense(cfg):
            _copy_bm25_params(cfg, Path(index_path), draft / "bm25")
        (draft / "Dockerfile").write_text(dockerfile(with_bm25=sparse_dense(cfg)))
        (draft / "pinecone_index.json").write_text(json.dumps(pinecone_spec(cfg), indent=2))
        if cfg.deploy.orchestration == "step_functions":
            from workbench.deploy.state_machine import state_machine, validate_state_machine

            definition = state_machine(cfg.deploy.timeout_s)
            validate_state_machine(definition)
            (draft / "statemachine.asl.json").write_text(json.dumps(definition, indent=2))
        checks: dict[str, Any] = {}
        if check_model:
            checks["onnx_max_abs_diff"] = _export_model(draft / "model")
        try:
            checks.update(self_checks(draft, dependencies_mb))
        except CheckError as exc:
            raise ExportError(str(exc)) from None
        (draft / "README.md").write_text(readme(cfg, run_id, metrics or {}, checks))
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(draft), out)
    return ExportReport(out, cfg.config_id, image=True, checks=checks)


def handler_module(cfg: AgentConfig) -> str:
    entry = ("handler, start_handler, embed_step, retrieve_step, reason_step, act_step"
             if cfg.deploy.orchestration == "step_functions" else "handler")
    return (f'"""Lambda entry point for {cfg.name} (config_id {cfg.config_id}); generated by `workbench export`.\n\n'
            'init() builds the agent here, in the init phase, which provisioned concurrency runs ahead of traffic."""\n\n'
            f"from workbench.serve.lambda_handler import init, {entry}  # noqa: F401\n\ninit()\n")


def sparse_dense(cfg: AgentConfig) -> bool:
    return cfg.retrieval.hybrid.enabled and cfg.retrieval.hybrid.method == "sparse_dense"


def pinecone_spec(cfg: AgentConfig) -> dict[str, Any]:
    # Sparse-dense needs dotproduct; on MiniLM's unit vectors it equals the evaluated cosine.
    metric = "dotproduct" if sparse_dense(cfg) else {"cosine": "cosine", "ip": "dotproduct"}[cfg.index.distance]
    return {"name": cfg.index.collection, "dimension": cfg.embedder.dimension, "metric": metric,
            "spec": {"serverless": {"cloud": cfg.deploy.pinecone_cloud, "region": cfg.deploy.pinecone_region}},
            "namespaces": f"one per value of metadata field {cfg.retrieval.tenant_field!r}"}


def _copy_bm25_params(cfg: AgentConfig, index_path: Path, folder: Path) -> None:
    """Every tenant's BM25 parameters, as fitted on the evaluated index (the Lambda encodes queries with them)."""
    from workbench.indexes.chroma import ChromaIndex
    from workbench.indexes.sparse_dense import tenant_params
    from workbench.indexes.sparse import bm25

    for tenant, params in tenant_params(ChromaIndex(index_path, cfg.index, cfg.retrieval.tenant_field), cfg.retrieval.tenant_field).items():
        bm25.save(params, bm25.params_path(folder, tenant))


def _export_model(folder: Path) -> float:
    """Convert the workbench's MiniLM to ONNX and prove it embeds the same (to 1e-5) before shipping it."""
    from workbench.embedders.minilm import MiniLMEmbedder
    from workbench.embedders.onnx_minilm import check_parity, export_onnx

    export_onnx(folder)
    probe = ["Who proved that air is necessary for combustion?", "a", "Oxygen is a chemical element with symbol O. " * 20,
             "Ünïcödé, emoji 🚀 and numbers 1234.5678"]
    return check_parity(folder, MiniLMEmbedder(), probe)


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)
