from pathlib import Path

import pytest
import yaml

from workbench.config import AgentConfig, ConfigError


def test_yaml_round_trip_keeps_every_field_and_the_id(tmp_path: Path) -> None:
    cfg = AgentConfig(name="rt", retrieval={"top_k": 3, "filter": {"article": {"$in": ["Oxygen"]}}},
                      index={"hnsw": {"search_ef": 40}})
    path = cfg.save(tmp_path / "c.yaml")
    back = AgentConfig.from_yaml(path)
    assert back == cfg
    assert back.config_id == cfg.config_id


def test_config_id_follows_behaviour_not_the_name() -> None:
    base = AgentConfig()
    assert AgentConfig(name="renamed").config_id == base.config_id
    assert base.with_overrides({"retrieval.top_k": 7}).config_id != base.config_id
    assert len(base.config_id) == 12


def test_overrides_by_dotted_path_are_validated() -> None:
    cfg = AgentConfig().with_overrides({"retrieval.chunking.size": 300, "reasoner.max_sentences": 2})
    assert cfg.retrieval.chunking.size == 300 and cfg.reasoner.max_sentences == 2
    with pytest.raises(ConfigError, match="retrieval.top_k"):
        AgentConfig().with_overrides({"retrieval.top_k": "many"})


@pytest.mark.parametrize("data, where, shown", [
    ({"retrieval": {"top_kk": 3}}, "retrieval.top_kk", "unknown key"),
    ({"retrieval": {"top_k": "five"}}, "retrieval.top_k", "'five'"),
    ({"retrieval": {"top_k": 0}}, "retrieval.top_k", "0"),
    ({"embedder": {"kind": "word2vec"}}, "embedder.kind", "unknown embedder kind 'word2vec'; choose one of:"),
    ({"index": {"distance": "manhattan"}}, "index.distance", "'manhattan'"),
    ({"index": {"collection": "x"}}, "index.collection", "'x'"),
    ({"retrieval": {"filter": {"year": {"$gt": "2010"}}}}, "retrieval.filter", "expected a number"),
    ({"retrieval": {"chunking": {"size": 100, "overlap": 100}}}, "retrieval.chunking", "overlap (100) must be smaller"),
    ({"reasoner": {"prompt_template": "Answer: {question}"}}, "reasoner.prompt_template", "context"),
    ({"reasoner": {"prompt_template": "{context} {question} {user}"}}, "reasoner.prompt_template", "unknown placeholder"),
    ({"reasoner": {"kind": "langchain"}}, "reasoner", "needs both provider and model"),
    ({"actuator": {"kind": "slack"}}, "actuator", "needs url or url_env"),
    ({"state": {"history_cap": -1}}, "state.history_cap", "-1"),
    ({"colour": "blue"}, "colour", "unknown key"),
])
def test_bad_fields_are_named_with_their_value(data: dict, where: str, shown: str) -> None:
    with pytest.raises(ConfigError) as err:
        AgentConfig.from_dict(data, source="bad.yaml")
    message = str(err.value)
    assert message.startswith("bad.yaml:")
    assert where in message and shown in message


def test_file_errors_suggest_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="workbench config show"):
        AgentConfig.from_yaml(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("retrieval: [top_k: 3\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        AgentConfig.from_yaml(broken)
    listy = tmp_path / "list.yaml"
    listy.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match="expected a mapping"):
        AgentConfig.from_yaml(listy)


def test_configs_are_immutable() -> None:
    cfg = AgentConfig()
    with pytest.raises(Exception):
        cfg.retrieval.top_k = 9  # type: ignore[misc]
