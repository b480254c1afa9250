"""Secrets in URLs never reach `config show`, MLflow params or artifacts, or a bundle; evaluation text is redacted
before it reaches MLflow. A masked config cannot be used by mistake: loading it says where the secret belongs."""

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from workbench.config import AgentConfig
from workbench.deploy.bundle import export_bundle
from workbench.deploy.template import sam_template
from workbench.errors import ConfigError, ExportError
from workbench.lab import tracking
from workbench.lab.evalsets import DatasetSpec, EvalCase, EvalSet, Turn
from workbench.lab.evaluate import evaluate
from workbench.redaction import mask_urls

SECRET = "PLANTEDsecret0123456789"
SLACK = f"https://hooks.slack.com/services/T0001/B0001/{SECRET}"


@pytest.mark.parametrize(
    "url, shown",
    [
        (f"https://bot:{SECRET}@api.example.com/v1?page=2", "https://bot:***@api.example.com/v1?page=2"),
        (f"https://{SECRET}@github.com/org/repo", "https://***@github.com/org/repo"),
        (f"https://api.example.com/hook?api_key={SECRET}&team=a", "https://api.example.com/hook?api_key=***&team=a"),
        (
            f"https://h.example/cb?X-Amz-Signature={SECRET};sig={SECRET}#access_token={SECRET}",
            "https://h.example/cb?X-Amz-Signature=***;sig=***#access_token=***",
        ),
        (
            f"https://h.example/?token={SECRET}&password={SECRET}&secret={SECRET}&key={SECRET}",
            "https://h.example/?token=***&password=***&secret=***&key=***",
        ),
        (SLACK, "https://hooks.slack.com/services/***"),
        (f"https://discord.com/api/webhooks/123/{SECRET}", "https://discord.com/api/webhooks/123/***"),
        (f"https://outlook.office.com/webhook/a1b2@c3d4/IncomingWebhook/{SECRET}/e5f6", "https://outlook.office.com/webhook/***"),
        (f"https://h.example/cb?jwt={SECRET}&bearer={SECRET}&page=2", "https://h.example/cb?jwt=***&bearer=***&page=2"),
        ("http://localhost:4318/v1/traces?service=agent", "http://localhost:4318/v1/traces?service=agent"),  # nothing secret
        # Host names ignore case, may end in a dot and may carry a port: each is the same webhook.
        (f"https://hooks.slack.com:443/services/T0/B0/{SECRET}", "https://hooks.slack.com:443/services/***"),
        (f"https://HOOKS.SLACK.COM/services/T0/B0/{SECRET}", "https://HOOKS.SLACK.COM/services/***"),
        (f"https://hooks.slack.com./services/T0/B0/{SECRET}", "https://hooks.slack.com./services/***"),
        (f"https://hooks.slack.com//Services/T0/B0/{SECRET}", "https://hooks.slack.com//Services/***"),
    ],
)
def test_url_secrets_are_masked(url: str, shown: str) -> None:
    assert mask_urls(f"see {url} now") == f"see {shown} now"


def secret_config(embedder: str = "hashing") -> AgentConfig:
    return AgentConfig(
        embedder={"kind": embedder},
        actuator={"kind": "slack", "url": SLACK},
        observability={"otlp_endpoint": f"https://collector:{SECRET}@otel.example.com:4318"},
    )


def test_config_show_masks_and_a_masked_copy_cannot_be_used(tmp_path) -> None:
    path = secret_config().save(tmp_path / "c.yaml")
    assert SECRET in path.read_text()  # the user's own file keeps what the user wrote
    env = {"WORKBENCH_HOME": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"}
    shown = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "config", "show", "-c", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert SECRET not in shown and "https://hooks.slack.com/services/***" in shown
    copy = tmp_path / "copy.yaml"
    copy.write_text(shown)
    bad = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "config", "validate", str(copy)], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 2 and "actuator.url: holds a masked secret" in bad.stderr and "url_env" in bad.stderr


def test_a_validation_error_masks_the_secret_it_quotes() -> None:
    """A misspelt key is not validated as a URL, so its value was printed whole: `urll: https://u:SECRET@h/x`."""
    with pytest.raises(ConfigError) as caught:
        AgentConfig.from_dict(
            {
                "actuator": {"kind": "http", "urll": f"https://u:{SECRET}@h.example.com/x"},
                "observability": {"otlp_endpoint": [f"https://hooks.slack.com:443/services/T/B/{SECRET}"]},
            }
        )
    assert SECRET not in str(caught.value) and "actuator.urll: unknown key" in str(caught.value)
    assert "'https://u:***@h.example.com/x'" in str(caught.value)


def test_a_file_that_is_not_yaml_is_not_quoted_back(tmp_path) -> None:
    """PyYAML's message quotes the line it choked on, cut short: the secret on it was shown where no mask saw a URL."""
    bad = tmp_path / "bad.yaml"
    bad.write_text('actuator:\n  kind: http\n  url: "https://u:SECRET1@hooks.example.com/x?token=abc\\s"\n')
    with pytest.raises(ConfigError) as err:
        AgentConfig.from_yaml(bad)
    assert "not valid YAML" in str(err.value) and "line 3, column 57" in str(err.value)
    assert "SECRET1" not in str(err.value) and "abc" not in str(err.value) and "hooks" not in str(err.value)


def test_export_refuses_a_webhook_written_with_a_port() -> None:
    cfg = AgentConfig(actuator={"kind": "slack", "url": f"https://hooks.slack.com:443/services/T/B/{SECRET}"})
    assert SECRET not in json.dumps(cfg.shown())
    with pytest.raises(ExportError, match="url_env"):
        export_bundle(cfg, Path("/nonexistent/bundle"), check_model=False)


def test_mlflow_gets_no_secret_and_redacted_questions(workspace, squad_subset, tmp_path) -> None:
    cfg = secret_config()
    case = EvalCase(
        case_id="pii",
        tenant="acme",
        user_id="u1",
        turns=[
            Turn(
                question="I am jane@example.com, card 4111.1111.1111.1111: who won Super Bowl 50?",
                answers=["Denver Broncos"],
                relevant={"Super_Bowl_50#0": 1},
            )
        ],
    )
    evalset = EvalSet(name="pii", cases=[case]).save(tmp_path / "pii.jsonl")
    experiment = tracking.connect(workspace)
    result = evaluate(cfg, DatasetSpec(corpus=squad_subset, evalset=evalset), workspace, progress=False, metrics=["exact_match"])
    assert "jane@example.com" in result.table["question"][0]  # the local table is the user's own
    run_id = tracking.log_evaluation(result, result.evalset.name, result.evalset.content_hash)

    run = mlflow.get_run(run_id)
    assert run.data.params["actuator.url"] == "https://hooks.slack.com/services/***"
    seen = [json.dumps(run.data.params), json.dumps(run.data.tags), mlflow.search_runs([experiment]).to_json()]
    artifacts = tmp_path / "artifacts"
    MlflowClient().download_artifacts(run_id, "", str(artifacts))
    seen += [p.read_bytes().decode("utf-8", "ignore") for p in artifacts.rglob("*") if p.is_file()]
    assert not any(SECRET in text for text in seen)
    table = (artifacts / "per_question.json").read_text()
    assert "jane@example.com" not in table and "4111.1111.1111.1111" not in table and "[EMAIL]" in table

    with pytest.raises(ConfigError, match="masked secret"):  # export from this run cannot ship a secret it never got
        tracking.config_of_run(run_id)


def test_export_refuses_a_literal_secret_and_wires_url_env_as_a_noecho_parameter(tmp_path) -> None:
    with pytest.raises(ExportError, match="url_env"):
        export_bundle(secret_config("minilm"), tmp_path / "bundle", check_model=False)
    assert not (tmp_path / "bundle").exists()
    cfg = AgentConfig(actuator={"kind": "slack", "url_env": "SLACK_WEBHOOK_URL"})
    template = sam_template(cfg, None)
    assert template["Parameters"]["SlackWebhookUrl"]["NoEcho"] is True
    env = template["Resources"]["AgentFunction"]["Properties"]["Environment"]["Variables"]
    assert env["SLACK_WEBHOOK_URL"] == {"Ref": "SlackWebhookUrl"}
