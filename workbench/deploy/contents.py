"""What a bundle carries, by rule: the core (the package's root modules but the CLI), serve/ whole, the deployment
options the config reads, and for each part of the loop the files of the backend that serves it in the Lambda (its
cloud twin in the catalogue), with the libraries those import, pinned.

Refused here, before anything is written: what the cloud cannot serve exactly as evaluated.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from workbench.catalogue import Backend, lookup, resolve
from workbench.config import AgentConfig
from workbench.errors import ExportError

PACKAGE = Path(__file__).resolve().parent.parent
ROOMS = ("serve",)  # shipped whole, beside the core: getting events in and acting once
OPTIONS = ("deploy/__init__.py", "deploy/options.py")  # the deploy and pricing sections of the config
STATE_KEYS = ("state/__init__.py",)  # the loop keys conversations (state.user_item), whichever store keeps them
HYBRID_FILES = ("indexes/hybrid.py", "indexes/sparse/")
# What the core and serve/ import (boto3 is in the Lambda runtime), then Powertools' Tracer (X-Ray subsegments).
BASE_REQUIREMENTS = ("pydantic", "numpy", "tenacity", "python-stdnum", "aws-lambda-powertools", "aws-xray-sdk")


def sparse_dense(cfg: AgentConfig) -> bool:
    return cfg.retrieval.hybrid.enabled and cfg.retrieval.hybrid.method == "sparse_dense"


def parts(cfg: AgentConfig) -> dict[str, tuple[str, str]]:
    """Each part of the loop the Lambda builds: (its family, the section path that chooses its kind)."""
    chosen = {
        "index": ("index", "index"),
        "embedder": ("embedder", "embedder"),
        "state": ("state", "state"),
        "actuator": ("actuator", "actuator"),
        "decision_log": ("log", "log"),
        "reasoner": ("reasoner", "reasoner"),
    }
    if cfg.escalation.after:
        chosen["escalator"] = ("actuator", "escalation.actuator")
    return chosen


def shipped_backends(cfg: AgentConfig) -> dict[str, Backend]:
    """The backend that serves each part in the Lambda, or an ExportError naming a part it cannot serve."""
    shipped = {}
    for part, (family, path) in parts(cfg).items():
        section = cfg
        for name in path.split("."):
            section = getattr(section, name)
        reason = lookup(family, section.kind).local_only
        if reason:
            raise ExportError(f"{path}.kind {section.kind!r} cannot be exported: {reason}")
        shipped[part] = resolve(family, section.kind, "aws")
    return shipped


def core_modules() -> list[str]:
    """What every bundle carries, whatever its backends."""
    root = [p.name for p in sorted(PACKAGE.glob("*.py"))]
    rooms = [p.relative_to(PACKAGE).as_posix() for room in ROOMS for p in sorted((PACKAGE / room).glob("*.py"))]
    return [*root, *rooms, *OPTIONS, *STATE_KEYS]


def backend_modules(cfg: AgentConfig) -> list[str]:
    """The backends' files for this config, with the __init__.py of each package they sit in, or an ExportError
    naming what cannot be served."""
    hybrid = cfg.retrieval.hybrid
    if hybrid.enabled and hybrid.method != "sparse_dense":
        raise ExportError(
            f"retrieval.hybrid.method {hybrid.method!r} (bm25s fusion) is for local exploration: Pinecone cannot "
            "serve it; evaluate with retrieval.hybrid.method: sparse_dense (Pinecone's sparse-dense score, "
            "exported exactly) or hybrid.enabled: false to export"
        )
    if cfg.index.distance == "l2":
        raise ExportError(
            "index.distance 'l2': Pinecone scores euclidean as a distance, the workbench as a similarity; "
            "evaluate with cosine or ip to export"
        )
    chosen = [f for backend in shipped_backends(cfg).values() for f in _own_files(backend)]
    if hybrid.enabled:
        chosen += HYBRID_FILES
    files: list[str] = []
    for rel in chosen:
        files += _package_inits(rel) + _expand(rel)
    return list(dict.fromkeys(files))


def requirements(cfg: AgentConfig) -> list[str]:
    """Only what the handler imports, pinned to the versions the workbench evaluated with."""
    shipped = shipped_backends(cfg)
    names = [*BASE_REQUIREMENTS, *(r for part, b in shipped.items() if part != "reasoner" for r in b.requires)]
    if sparse_dense(cfg):
        names += ["mmh3", "snowballstemmer", "PyStemmer"]
    names += shipped["reasoner"].requires
    if cfg.reasoner.kind == "langchain":
        names.append(f"langchain-{cfg.reasoner.provider}")
    if cfg.observability.tracing != "none":
        names += ["opentelemetry-sdk"] + (
            ["opentelemetry-exporter-otlp-proto-grpc"] if cfg.observability.tracing == "otlp" else []
        )
    pins = []
    for name in dict.fromkeys(names):
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            raise ExportError(f"{name} is not installed here; `pip install {name}` and export again") from None
    return pins


def _own_files(backend: Backend) -> list[str]:
    """The backend's factory module, when it is the workbench's (a plugin ships as a requirement), and its files."""
    module = backend.factory.partition(":")[0]
    if not module.startswith("workbench."):
        return list(backend.files)
    rel = module.removeprefix("workbench.").replace(".", "/")
    return [f"{rel}.py" if (PACKAGE / f"{rel}.py").is_file() else f"{rel}/__init__.py", *backend.files]


def _package_inits(rel: str) -> list[str]:
    parents = Path(rel.rstrip("/")).parents
    return [f"{p.as_posix()}/__init__.py" for p in reversed(parents) if p != Path(".")]


def _expand(rel: str) -> list[str]:
    """A file, or every file of a folder (a trailing "/"), caches left out."""
    if not rel.endswith("/"):
        return [rel]
    return [
        p.relative_to(PACKAGE).as_posix()
        for p in sorted((PACKAGE / rel).rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    ]
