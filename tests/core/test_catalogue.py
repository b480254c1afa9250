"""The backend catalogue: each backend declared once, its cloud twin chosen by profile without changing any global,
plugins through the `workbench.backends` entry-point group, a missing library named with its pip extra."""

from importlib.metadata import EntryPoint

import pytest

from workbench import catalogue, registry
from workbench.catalogue import Backend, kinds, resolve
from workbench.config import AgentConfig
from workbench.errors import ConfigError, PluginError
from workbench.registry import BuildContext, build


def test_the_aws_profile_takes_the_cloud_twins_and_leaves_the_local_catalogue_as_it_was() -> None:
    twins = {
        (f, k): resolve(f, k, "aws").kind
        for f, k in [
            ("index", "chroma"),
            ("state", "sqlite"),
            ("embedder", "minilm"),
            ("actuator", "outbox"),
            ("log", "jsonl"),
            ("actuator", "http"),
        ]
    }
    assert twins == {
        ("index", "chroma"): "pinecone",
        ("state", "sqlite"): "dynamodb",
        ("embedder", "minilm"): "onnx_minilm",
        ("actuator", "outbox"): "stdout",
        ("log", "jsonl"): "none",
        ("actuator", "http"): "http",
    }
    assert resolve("index", "chroma").kind == "chroma" and resolve("index", "pinecone", "aws").kind == "pinecone"
    with pytest.raises(ConfigError, match="profile 'gcp': choose local or aws"):
        resolve("index", "chroma", "gcp")


def test_a_part_is_built_from_its_own_section(tmp_path) -> None:
    from workbench.workspace import Workspace

    cfg = AgentConfig(
        embedder={"kind": "hashing", "dimension": 64},
        escalation={"after": 1, "actuator": {"kind": "http", "url": "http://127.0.0.1:9/tickets"}},
    )
    ctx = BuildContext(cfg, Workspace(tmp_path))
    assert build("actuator", "http", ctx, section=cfg.escalation.actuator).url == "http://127.0.0.1:9/tickets"
    assert build("embedder", "hashing", ctx).dimension == 64


def test_unknown_kinds_list_the_declared_ones_and_a_registered_backend_joins_them(monkeypatch) -> None:
    with pytest.raises(ConfigError, match="unknown index kind 'qdrant'; choose one of: chroma, pinecone"):
        registry.check_kind("index", "qdrant")
    monkeypatch.setattr(catalogue, "_registered", {})
    catalogue.register(Backend("index", "qdrant", "tests_qdrant:build", extra="qdrant"))
    assert "qdrant" in kinds("index")
    with pytest.raises(ConfigError, match=r"needs tests_qdrant, which is not installed: pip install 'agent-workbench\[qdrant\]'"):
        build("index", "qdrant", BuildContext(AgentConfig(), None))


def test_plugins_come_through_the_entry_point_group_and_a_broken_one_is_named(monkeypatch) -> None:
    import importlib.metadata
    import sys
    import types

    plugin = types.ModuleType("wb_plugin_example")
    plugin.BACKENDS = [Backend("reasoner", "echo", "wb_plugin_example:build")]
    monkeypatch.setitem(sys.modules, "wb_plugin_example", plugin)
    points = [EntryPoint("echo", "wb_plugin_example:BACKENDS", catalogue.ENTRY_POINTS)]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: points if group == catalogue.ENTRY_POINTS else [])
    catalogue._plugins.cache_clear()
    try:
        assert "echo" in kinds("reasoner") and resolve("reasoner", "echo").factory == "wb_plugin_example:build"
        assert resolve("index", "chroma").kind == "chroma"  # a built-in kind never reads the plugins
        points[:] = [EntryPoint("broken", "wb_plugin_missing:BACKENDS", catalogue.ENTRY_POINTS)]
        catalogue._plugins.cache_clear()
        with pytest.raises(PluginError, match="entry point broken = wb_plugin_missing:BACKENDS"):
            resolve("reasoner", "echo")
    finally:
        catalogue._plugins.cache_clear()
