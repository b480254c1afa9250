"""Write an export bundle, refusing anything the cloud backends cannot serve exactly as evaluated.

The bundle is assembled in a temporary folder and moved into place only when every step and
self-check has passed, so a failed export leaves nothing half-done.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import AgentConfig
from workbench.deploy.checks import self_checks
from workbench.deploy.contents import PACKAGE, backend_modules, core_modules, requirements, sparse_dense
from workbench.deploy.limits import check_decision_fits
from workbench.deploy.lock import lock
from workbench.deploy.readme import readme
from workbench.deploy.template import dockerfile, sam_template
from workbench.errors import CheckError, ExportError, LockError


@dataclass
class ExportReport:
    out: Path
    config_id: str
    checks: dict[str, Any] = field(default_factory=dict)


def export_bundle(
    cfg: AgentConfig,
    out: Path,
    run_id: str | None = None,
    metrics: dict[str, float] | None = None,
    force: bool = False,
    check_model: bool = True,
    index_path: Path | None = None,
) -> ExportReport:
    """`index_path`: the evaluated Chroma index, whose tenants' BM25 parameters a sparse_dense bundle ships."""
    modules = backend_modules(cfg)
    if cfg.shown() != cfg.model_dump(mode="json"):
        raise ExportError(
            "a URL in the config carries a secret (credentials, a token parameter or a webhook path), and a "
            "bundle is copied, stored and read: put the URL in an environment variable, name it in url_env "
            "(e.g. actuator.url_env: SLACK_WEBHOOK_URL), and give its value when you deploy (a NoEcho "
            "parameter of template.yaml)"
        )
    try:
        check_decision_fits(cfg)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    if out.exists() and not force:
        raise ExportError(f"{out} exists; pass --force to replace it")
    if out.exists() and not _replaceable(out):
        raise ExportError(
            f"{out} is not a bundle (no template.yaml and config.json) nor an empty folder, and --force replaces only "
            "those: choose another --out"
        )
    if sparse_dense(cfg) and (index_path is None or not Path(index_path).exists()):
        raise ExportError(
            "retrieval.hybrid.method sparse_dense ships the BM25 parameters fitted on the evaluated index: "
            "export from an evaluated run (--run or --promoted) whose index still exists"
        )
    target = out.resolve()  # `-o .` too: the draft is made beside it, never inside what is removed
    with tempfile.TemporaryDirectory(dir=target.parent if target.parent.exists() else None) as tmp:
        draft = Path(tmp) / "bundle"
        for rel in (*core_modules(), *modules):
            (draft / "workbench" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(PACKAGE / rel, draft / "workbench" / rel)
        (draft / "handler.py").write_text(handler_module(cfg))
        (draft / "config.json").write_text(
            json.dumps({"config_id": cfg.config_id, "mlflow_run_id": run_id, "config": cfg.model_dump(mode="json")}, indent=2)
        )
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
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(draft), target)
    return ExportReport(out, cfg.config_id, checks=checks)


def _replaceable(out: Path) -> bool:
    return out.is_dir() and (not any(out.iterdir()) or all((out / name).is_file() for name in ("template.yaml", "config.json")))


def handler_module(cfg: AgentConfig) -> str:
    entry = (
        "handler, start_handler, embed_step, retrieve_step, reason_step, act_step"
        if cfg.deploy.orchestration == "step_functions"
        else "handler"
    )
    return (
        f'"""Lambda entry point for {cfg.name} (config_id {cfg.config_id}); generated by `workbench export`.\n\n'
        "init() builds the agent here, in the init phase, which provisioned concurrency runs ahead of traffic.\n"
        "The garbage collector is off meanwhile, then the heap is frozen out of its reach (gc.freeze): the modules\n"
        "and the agent live as long as the process, and collecting while they load, then scanning them again at\n"
        "the first event's collections, was 140 ms of a cold start. The few cycles the imports leave (about 1,400\n"
        'objects) stay frozen: a full collection would cost more time than their memory is worth."""\n\n'
        "import gc\n\ngc.disable()\n"
        f"from workbench.serve.lambda_handler import init, {entry}  # noqa: E402, F401\n\n"
        "init()\ngc.freeze()\ngc.enable()\n"
    )


def pinecone_spec(cfg: AgentConfig) -> dict[str, Any]:
    # Sparse-dense needs dotproduct; on MiniLM's unit vectors it equals the evaluated cosine.
    metric = "dotproduct" if sparse_dense(cfg) else {"cosine": "cosine", "ip": "dotproduct"}[cfg.index.distance]
    return {
        "name": cfg.index.collection,
        "dimension": cfg.embedder.dimension,
        "metric": metric,
        "spec": {"serverless": {"cloud": cfg.deploy.pinecone_cloud, "region": cfg.deploy.pinecone_region}},
        "namespaces": f"one per value of metadata field {cfg.retrieval.tenant_field!r}",
    }


def _copy_bm25_params(cfg: AgentConfig, index_path: Path, folder: Path) -> None:
    """Every tenant's BM25 parameters, as fitted on the evaluated index (the Lambda encodes queries with them)."""
    from workbench.indexes.chroma import ChromaIndex
    from workbench.indexes.sparse import bm25
    from workbench.indexes.sparse_dense import tenant_params

    for tenant, params in tenant_params(
        ChromaIndex(index_path, cfg.index, cfg.retrieval.tenant_field), cfg.retrieval.tenant_field
    ).items():
        bm25.save(params, bm25.params_path(folder, tenant))


def _export_model(folder: Path) -> float:
    """Convert the workbench's MiniLM to ONNX and prove it embeds the same (to 1e-5) before shipping it."""
    from workbench.embedders.minilm import MiniLMEmbedder
    from workbench.embedders.onnx_minilm import check_parity, export_onnx

    export_onnx(folder)
    probe = [
        "Who proved that air is necessary for combustion?",
        "a",
        "Oxygen is a chemical element with symbol O. " * 20,
        "Ünïcödé, emoji 🚀 and numbers 1234.5678",
    ]
    return check_parity(folder, MiniLMEmbedder(), probe)


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)
