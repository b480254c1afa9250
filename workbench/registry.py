"""Build a part of the loop from the catalogue: the backend of the chosen kind (or, on aws, its cloud twin), imported
only then.

A factory takes a `BuildContext` and returns the part; it reads its own config section with `ctx.own(family)`,
which is the section the part was built from (the escalator is an actuator built from `escalation.actuator`,
no copy of the config with a field swapped), and an index also `ctx.retrieval`, the retrieval it serves. The
whole config is not a factory's to read. The core never imports a backend; declare one in `catalogue`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

from workbench.catalogue import Profile, kinds, lookup, register, resolve
from workbench.errors import ConfigError

if TYPE_CHECKING:
    from workbench.config import AgentConfig, RetrievalConfig
    from workbench.workspace import Workspace

__all__ = ["BuildContext", "build", "check_kind", "factory", "kinds", "register"]


@dataclass
class BuildContext:
    """What a factory may use: its own section (`own`), the retrieval an index serves, where to keep files, the
    embedder already built (a reasoner may embed), and the profile it is built for."""

    _config: "AgentConfig"
    workspace: "Workspace"
    embedder: Any = None
    section: Any = None
    profile: Profile = "local"

    def own(self, family: str) -> Any:
        """The section this part is built from: the one `build` was given, else the config's section of `family`."""
        return self.section if self.section is not None else getattr(self._config, family)

    @property
    def retrieval(self) -> "RetrievalConfig":
        """What an index serves: its tenant field (every query is scoped by it) and its hybrid scoring."""
        return self._config.retrieval


def check_kind(family: str, kind: str) -> str:
    """For config fields: `kind` must be a declared backend of `family`."""
    lookup(family, kind)
    return kind


def factory(family: str, kind: str, profile: Profile = "local") -> Callable[..., Any]:
    """The factory of `kind` in `profile`, imported now."""
    module_name, _, attr = resolve(family, kind, profile).factory.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def build(family: str, kind: str, ctx: BuildContext, section: Any = None) -> Any:
    """The part of `family` and `kind`, built for `ctx.profile` from `section` (default: the config's own). A library
    the backend needs that is not installed is a ConfigError naming the pip extra that installs it."""
    part_ctx = ctx if section is None else replace(ctx, section=section)
    try:
        return factory(family, kind, ctx.profile)(part_ctx)
    except ModuleNotFoundError as exc:
        if (exc.name or "workbench").split(".")[0] == "workbench":
            raise  # a module of the workbench itself is missing: a bug, not an install
        backend = resolve(family, kind, ctx.profile)
        fix = f"pip install 'agent-workbench[{backend.extra}]'" if backend.extra else f"pip install {exc.name}"
        raise ConfigError(f"{family} kind {backend.kind!r} needs {exc.name}, which is not installed: {fix}") from None
