"""An agent's parts, built from the catalogue for a profile, each behind the config's resilience guard: what
`Agent.from_config` runs, kept apart from the loop that uses the parts."""

from __future__ import annotations

from typing import Any

from workbench.catalogue import Profile
from workbench.config import AgentConfig
from workbench.protocols import Embedder
from workbench.registry import BuildContext, build
from workbench.resilience import guard
from workbench.workspace import Workspace


def build_embedder(ctx: BuildContext, cache: bool = True) -> Embedder:
    """The config's embedder, behind the on-disk embedding cache unless `cache` is False."""
    embedder = build("embedder", ctx.own("embedder").kind, ctx)
    if cache:
        from workbench.embedders.cache import CachedEmbedder

        embedder = CachedEmbedder(embedder, ctx.workspace.embedding_cache)
    return embedder


def assemble(
    config: AgentConfig, workspace: Workspace, profile: Profile, cache_embeddings: bool, parts: dict[str, Any]
) -> dict[str, Any]:
    """Every part `Agent` takes, by its keyword; a part given in `parts` is used as it is (unguarded)."""
    ctx = BuildContext(config, workspace, profile=profile)
    ctx.embedder = parts.get("embedder") or build_embedder(ctx, cache_embeddings)
    built = {
        family: parts.get(family) or guard(build(family, getattr(config, family).kind, ctx), family, config.resilience)
        for family in ("index", "state", "reasoner", "actuator")
    }
    built["decision_log"] = parts.get("decision_log") or build("log", config.log.kind, ctx)
    if config.retrieval.hybrid.enabled:
        from workbench.indexes.hybrid import with_hybrid

        built["index"] = with_hybrid(built["index"], config.retrieval.hybrid)
    built["embedder"] = ctx.embedder if "embedder" in parts else guard(ctx.embedder, "embedder", config.resilience)
    if "escalator" in parts:
        built["escalator"] = parts["escalator"]
    elif config.escalation.after:  # an actuator of its own, built from the escalation section
        escalator = build("actuator", config.escalation.actuator.kind, ctx, section=config.escalation.actuator)
        built["escalator"] = guard(escalator, "actuator", config.resilience)
    built["tracer"] = parts.get("tracer")
    if built["tracer"] is None and config.observability.tracing != "none":
        from workbench.tracing import make_tracer

        built["tracer"] = make_tracer(config.observability)
    return built
