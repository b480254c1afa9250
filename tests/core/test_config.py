from pathlib import Path

import pytest
import yaml

from workbench.config import AgentConfig
from workbench.errors import ConfigError


def test_yaml_round_trip_keeps_every_field_and_the_id(tmp_path: Path) -> None:
    cfg = AgentConfig(
        name="rt", retrieval={"top_k": 3, "filter": {"article": {"$in": ["Oxygen"]}}}, index={"hnsw": {"search_ef": 40}}
    )
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


@pytest.mark.parametrize(
    "data, where, shown",
    [
        ({"retrieval": {"top_kk": 3}}, "retrieval.top_kk", "unknown key"),
        ({"retrieval": {"top_k": "five"}}, "retrieval.top_k", "'five'"),
        ({"retrieval": {"top_k": 0}}, "retrieval.top_k", "0"),
        ({"embedder": {"kind": "word2vec"}}, "embedder.kind", "unknown embedder kind 'word2vec'; choose one of:"),
        ({"index": {"distance": "manhattan"}}, "index.distance", "'manhattan'"),
        ({"index": {"collection": "x"}}, "index.collection", "'x'"),
        ({"index": {"port": 9000}}, "index", "port 9000 is set without host"),
        ({"retrieval": {"filter": {"year": {"$gt": "2010"}}}}, "retrieval.filter", "expected a number"),
        ({"retrieval": {"chunking": {"size": 100, "overlap": 100}}}, "retrieval.chunking", "overlap (100) must be smaller"),
        ({"reasoner": {"prompt_template": "Answer: {question}"}}, "reasoner.prompt_template", "context"),
        ({"reasoner": {"prompt_template": "{context} {question} {user}"}}, "reasoner.prompt_template", "unknown placeholder"),
        ({"reasoner": {"kind": "langchain"}}, "reasoner", "needs both provider and model"),
        ({"actuator": {"kind": "slack"}}, "actuator", "needs url or url_env"),
        ({"state": {"max_turns": -1}}, "state.max_turns", "-1"),
        (
            {"state": {"history_cap": 20}},
            "state",
            "history_cap (messages) is now max_turns (turns, a question and its answer): write max_turns: 10",
        ),
        ({"colour": "blue"}, "colour", "unknown key"),
    ],
)
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
    with pytest.raises(Exception):  # noqa: B017 - pydantic refuses a write to a frozen model with its own error
        cfg.retrieval.top_k = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    "text, shown",
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("false\n", "got bool False"),
        ("3\n", "got int 3"),
        ("just words\n", "got str 'just words'"),
        ("- retrieval\n", "got list"),
    ],
)
def test_a_file_that_is_not_a_mapping_is_an_error_not_the_default(tmp_path: Path, text: str, shown: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        AgentConfig.from_yaml(path)
    assert str(err.value).startswith(f"{path}:") and shown in str(err.value)


def test_a_duplicated_key_is_named_with_its_lines(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("name: dup\nretrieval:\n  top_k: 3\n  hybrid: {enabled: false}\n  top_k: 7\n")
    with pytest.raises(ConfigError) as err:
        AgentConfig.from_yaml(path)
    assert str(err.value) == f"{path}: line 5: duplicate key 'top_k' (first given at line 3); keep one"
    path.write_text("retrieval: {top_k: 3}\nname: a\nretrieval: {top_k: 4}\n")
    with pytest.raises(ConfigError, match="line 3: duplicate key 'retrieval' \\(first given at line 1\\)"):
        AgentConfig.from_yaml(path)
    path.write_text("base: &b {top_k: 3}\nretrieval:\n  <<: *b\n  top_k: 4\n")  # a merge key overridden is not a duplicate
    with pytest.raises(ConfigError, match="base: unknown key"):
        AgentConfig.from_yaml(path)


def test_a_non_utf8_file_names_the_file_and_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as err:
        AgentConfig.from_yaml(path)
    assert str(err.value) == f"{path}: not UTF-8 text: byte b'\\xe9' at offset 9; save the file as UTF-8"


@pytest.mark.parametrize(
    "yaml_text, where",
    [
        ("retrieval: {top_k: true}", "retrieval.top_k"),
        ("reasoner: {temperature: false}", "reasoner.temperature"),
        ("resilience: {rate_per_s: {reasoner: true}}", "resilience.rate_per_s"),
        ("deploy: {memory_mb: yes}", "deploy.memory_mb"),
    ],
)
def test_booleans_are_not_numbers(tmp_path: Path, yaml_text: str, where: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text + "\n")
    with pytest.raises(ConfigError) as err:
        AgentConfig.from_yaml(path)
    assert f"{where}: a boolean is not a number" in str(err.value)
    assert AgentConfig.from_dict(
        {"retrieval": {"hybrid": {"enabled": True}}}
    ).retrieval.hybrid.enabled  # real booleans still work


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
@pytest.mark.parametrize("field", ["resilience.timeout_s", "state.ttl_days", "resilience.rate_per_s.reasoner"])
def test_infinity_and_nan_are_rejected(tmp_path: Path, field: str, value: str) -> None:
    section, *rest = field.split(".")
    body = f"{section}: {{{rest[0]}: {value}}}" if len(rest) == 1 else f"{section}: {{{rest[0]}: {{{rest[1]}: {value}}}}}"
    path = tmp_path / "c.yaml"
    path.write_text(body + "\n")
    with pytest.raises(ConfigError) as err:
        AgentConfig.from_yaml(path)
    assert field in str(err.value) and "finite number" in str(err.value)


@pytest.mark.parametrize(
    "rate, says",
    [
        (-1, "must be more than 0. For no limit, leave reasoner out of rate_per_s"),
        (0, "must be more than 0. For no limit, leave reasoner out of rate_per_s"),
        (1e-12, "less than one call in"),
    ],
)
def test_a_rate_must_be_positive_and_no_limit_is_said_by_leaving_it_out(rate: float, says: str) -> None:
    """-1 validated, then every call failed ("sleep length must be non-negative"); 0 silently meant no limit."""
    with pytest.raises(ConfigError) as err:
        AgentConfig.from_dict({"resilience": {"rate_per_s": {"reasoner": rate}}})
    assert "resilience.rate_per_s: reasoner:" in str(err.value) and says in str(err.value)
    assert AgentConfig.from_dict({"resilience": {"rate_per_s": {"reasoner": 0.5}}}).resilience.rate_per_s == {"reasoner": 0.5}


@pytest.mark.parametrize("field", ["resilience.timeout_s", "resilience.max_delay_s", "actuator.timeout_s"])
def test_waits_past_what_python_can_wait_are_rejected(field: str) -> None:
    """1e10 s passed validation, then every call raised OverflowError (threading.TIMEOUT_MAX is ~9.2e9 s)."""
    section, key = field.split(".")
    with pytest.raises(ConfigError) as err:
        AgentConfig.from_dict({section: {key: 1e10}})
    assert field in str(err.value) and "less than or equal to 9223372036" in str(err.value) and "10000000000.0" in str(err.value)


@pytest.mark.parametrize(
    "deploy, message",
    [
        ({"provisioned_concurrency": 2}, "provisioned_concurrency needs an alias"),
        ({"deployment": "Canary10Percent5Minutes"}, "deployment Canary10Percent5Minutes needs an alias"),
        ({"fifo": True, "sqs_batch_size": 20, "batching_window_s": 5}, "a FIFO queue delivers at most 10"),
        ({"fifo": True, "orchestration": "step_functions"}, "would no longer be handled in order"),
        ({"sqs_batch_size": 100}, "needs batching_window_s >= 1"),
        ({"max_concurrency": 80}, "max_concurrency 80 exceeds reserved_concurrency 50"),
        ({"max_concurrency": 1}, "greater than or equal to 2"),
        ({"alias": "live", "provisioned_concurrency": 60}, "provisioned_concurrency 60 exceeds reserved_concurrency 50"),
        ({"alias": "live-1"}, "should match pattern"),
        ({"architecture": "arm"}, "'x86_64' or 'arm64'"),
        ({"deployment": "Canary50Percent"}, "Canary10Percent5Minutes"),
    ],
)
def test_deploy_options_aws_would_refuse_are_refused_at_load(deploy: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        AgentConfig.from_dict({"deploy": deploy})
    assert "deploy" in str(info.value)


def test_every_deploy_option_changes_the_config_id() -> None:
    options = [
        {"fifo": True},
        {"architecture": "arm64"},
        {"max_concurrency": 10},
        {"alias": "live"},
        {"alias": "live", "provisioned_concurrency": 1},
        {"alias": "live", "deployment": "Canary10Percent5Minutes"},
        {"sqs_batch_size": 20, "batching_window_s": 2},
    ]
    ids = {AgentConfig(deploy=o).config_id for o in options}
    assert len(ids) == len(options) and AgentConfig().config_id not in ids
    assert (
        AgentConfig(pricing={"sqs_per_million_requests": 9.0}).config_id == AgentConfig().config_id
    )  # prices are not the pipeline
