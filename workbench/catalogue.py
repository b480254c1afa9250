"""Every backend, declared once: its family and kind, factory, cloud twin, files to bundle, requirements and pip extra.

The registry builds a part from its declaration, the Lambda runtime takes the cloud twins (the `aws` profile), and
export copies the files of the backends that ship. Adding a backend is one module plus one `Backend`. A third-party
package adds its own through the `workbench.backends` entry-point group, each entry point naming a `Backend` or a
list of them; in the plugin's pyproject.toml::

    [project.entry-points."workbench.backends"]
    qdrant = "workbench_qdrant:BACKENDS"
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from workbench.errors import ConfigError, PluginError

FAMILIES = ("embedder", "index", "state", "reasoner", "actuator", "log")
ENTRY_POINTS = "workbench.backends"
Profile = Literal["local", "aws"]
PROFILES = ("local", "aws")


@dataclass(frozen=True)
class Backend:
    """One backend. `factory` is "module:function", called with a `registry.BuildContext` whose `section` is the
    backend's own config section. In the `aws` profile a backend with a `twin` is replaced by that kind. A shipped
    backend's factory module is bundled with its packages' __init__.py, and so are its `files` (more paths under
    workbench/; a folder ends in "/"); `requires` (distributions) are pinned in the bundle's requirements.txt.
    `extra` is the pip extra that installs its libraries; `local_only` says why export refuses it."""

    family: str
    kind: str
    factory: str
    twin: str | None = None
    files: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    extra: str | None = None
    local_only: str | None = None


TESTS_ONLY = "only minilm (run as ONNX in the Lambda) is served; the hashing embedder is for tests only"

BUILTIN = (
    Backend("embedder", "minilm", "workbench.embedders.minilm:build", twin="onnx_minilm", extra="local"),
    Backend(
        "embedder", "onnx_minilm", "workbench.embedders.onnx_minilm:build", requires=("onnxruntime", "tokenizers"), extra="aws"
    ),
    Backend("embedder", "hashing", "workbench.embedders.hashing:build", local_only=TESTS_ONLY),
    Backend("index", "chroma", "workbench.indexes.chroma:build", twin="pinecone", extra="local"),
    # The Lambda queries through pinecone_reads (urllib3, with botocore in the runtime); the SDK only loads, locally.
    Backend("index", "pinecone", "workbench.indexes.pinecone:build", files=("indexes/pinecone_reads.py",), extra="aws"),
    Backend("state", "sqlite", "workbench.state.sqlite:build", twin="dynamodb"),
    Backend("state", "dynamodb", "workbench.state.dynamodb:build", extra="aws"),  # boto3 is in the Lambda runtime
    # Its sentence ranking shares the BM25 tokenizer (and its stemmer).
    Backend(
        "reasoner",
        "extractive",
        "workbench.reasoners.extractive:build",
        files=("reasoners/extractive_scoring.py", "reasoners/sentences.py", "indexes/sparse/"),
        requires=("snowballstemmer", "PyStemmer"),  # the C stemmer, as evaluated: stemming is most of its time without it
    ),
    Backend("reasoner", "langchain", "workbench.reasoners.langchain_chat:build", requires=("langchain",), extra="langchain"),
    Backend("actuator", "outbox", "workbench.actuators.outbox:build", twin="stdout"),
    Backend("actuator", "stdout", "workbench.actuators.stdout:build"),
    Backend("actuator", "http", "workbench.actuators.http:build_http"),
    Backend("actuator", "slack", "workbench.actuators.http:build_slack"),
    # In the Lambda the decision table, the delivery core's ledger, keeps every decision.
    Backend("log", "jsonl", "workbench.decisionlog.jsonl:build", twin="none"),
    Backend("log", "none", "workbench.decisionlog:build_none"),
)

_registered: dict[tuple[str, str], Backend] = {}


def register(backend: Backend | str, kind: str | None = None, factory: str | None = None) -> None:
    """Add a backend at run time (tests, notebooks): `register(Backend(...))` or `register("index", "qdrant",
    "my_pkg.qdrant:build")`. A package would rather declare an entry point."""
    if not isinstance(backend, Backend):
        backend = Backend(backend, kind or "", factory or "")
    _check(backend, "register()")
    _registered[(backend.family, backend.kind)] = backend


def kinds(family: str) -> list[str]:
    return sorted(kind for fam, kind in {**_plugins(), **_known()} if fam == family)


def lookup(family: str, kind: str) -> Backend:
    """The declaration of `kind`, or a ConfigError listing the kinds there are. Plugins are read only for a kind that
    is not built in, so a broken plugin never stands in the way of the built-in backends."""
    backend = _known().get((family, kind)) or _plugins().get((family, kind))
    if backend is None:
        raise ConfigError(f"unknown {family} kind {kind!r}; choose one of: {', '.join(kinds(family))}")
    return backend


def resolve(family: str, kind: str, profile: Profile = "local") -> Backend:
    """The backend that serves `kind` in `profile`: itself locally, its cloud twin (if it has one) on aws."""
    if profile not in PROFILES:
        raise ConfigError(f"profile {profile!r}: choose local or aws")
    backend = lookup(family, kind)
    return lookup(family, backend.twin) if profile == "aws" and backend.twin else backend


def _known() -> dict[tuple[str, str], Backend]:
    return {**{(b.family, b.kind): b for b in BUILTIN}, **_registered}


@cache
def _plugins() -> dict[tuple[str, str], Backend]:
    """The backends of installed plugins, read once per process."""
    from importlib.metadata import entry_points

    found: dict[tuple[str, str], Backend] = {}
    for ep in entry_points(group=ENTRY_POINTS):
        where = f"entry point {ep.name} = {ep.value} ({ENTRY_POINTS})"
        try:
            loaded = ep.load()
        except Exception as exc:
            raise PluginError(f"{where}: cannot be loaded: {type(exc).__name__}: {exc}") from exc
        for backend in loaded if isinstance(loaded, (list, tuple)) else [loaded]:
            _check(backend, where)
            key = (backend.family, backend.kind)
            if key in found or key in {(b.family, b.kind) for b in BUILTIN}:
                raise PluginError(f"{where}: {backend.family} kind {backend.kind!r} is declared already; give it another kind")
            found[key] = backend
    return found


def _check(backend: object, where: str) -> None:
    if not isinstance(backend, Backend):
        raise PluginError(f"{where}: expected a workbench.catalogue.Backend or a list of them, got {type(backend).__name__}")
    if backend.family not in FAMILIES:
        raise PluginError(f"{where}: unknown family {backend.family!r}; choose one of: {', '.join(FAMILIES)}")
    if ":" not in backend.factory:
        raise PluginError(f"{where}: factory {backend.factory!r} must be 'module:function'")
