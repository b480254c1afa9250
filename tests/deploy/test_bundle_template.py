"""The bundles' SAM templates, as SAM itself reads them: `sam validate --lint` (aws-sam-cli, pinned in
tools/sam-requirements.txt, in its own virtualenv) and SAM's translation to CloudFormation, whose roles show every
permission a deployed function would hold. On the default, hybrid, Step Functions and FIFO (arm64, canary) bundles."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workbench.config import AgentConfig
from workbench.deploy.bundle import export_bundle

pytestmark = pytest.mark.xdist_group("bundle")

SAM_BIN = Path(os.environ.get("WORKBENCH_SAM_BIN", Path(sys.executable).parent.parent / "tools" / "sam" / "bin"))
# SAM's own translator, as `sam validate` runs it; sam build sets ImageUri, so a placeholder stands in for it.
TRANSLATE = """
import json, sys, yaml
from samtranslator.translator.transform import transform
class NoManagedPolicies:
    def load(self): return {}
template = yaml.safe_load(open(sys.argv[1]))
for resource in template["Resources"].values():
    if resource["Type"] == "AWS::Serverless::Function":
        resource["Properties"]["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/agent:built"
print(json.dumps(transform(template, {}, NoManagedPolicies())))
"""
SAM_ENV = {"PATH": "/usr/bin:/bin", "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
MANAGED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda",
}
SFN = {"orchestration": "step_functions", "alias": "live", "deployment": "Canary10Percent5Minutes"}
FIFO = {
    "fifo": True,
    "architecture": "arm64",
    "max_concurrency": 5,
    "alias": "live",
    "provisioned_concurrency": 2,
    "deployment": "Linear10PercentEvery1Minute",
}


@pytest.fixture(scope="module")
def bundles(exported, hybrid, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("templates")
    made = {
        name: export_bundle(AgentConfig(name=name, deploy=deploy), root / name, check_model=False).out
        for name, deploy in (("sfn", SFN), ("fifo", FIFO))
    }
    return {"default": exported[2].out, "hybrid": hybrid[1].out, **made}


def _sam(args: list[str], cwd: Path, tmp: Path) -> subprocess.CompletedProcess:
    if not (SAM_BIN / "sam").exists():
        pytest.fail(f"aws-sam-cli is not installed at {SAM_BIN}: run `make sam` (or set WORKBENCH_SAM_BIN)")
    return subprocess.run(
        [str(SAM_BIN / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**SAM_ENV, "HOME": str(tmp)},
    )


def translated(bundle: Path, tmp: Path) -> dict:
    proc = _sam(["python", "-c", TRANSLATE, str(bundle / "template.yaml")], bundle, tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)["Resources"]


@pytest.mark.parametrize("name", ["default", "hybrid", "sfn", "fifo"])
def test_sam_validates_and_lints_the_template(bundles, name, tmp_path) -> None:
    proc = _sam(["sam", "validate", "--lint"], bundles[name], tmp_path)
    assert proc.returncode == 0 and "is a valid SAM Template" in proc.stdout, proc.stdout + proc.stderr
    roles = {k: r["Properties"] for k, r in translated(bundles[name], tmp_path).items() if r["Type"] == "AWS::IAM::Role"}
    assert roles and all(set(r.get("ManagedPolicyArns", [])) <= MANAGED for r in roles.values())  # no SQS execution role
    statements = [st for r in roles.values() for p in r.get("Policies", []) for st in p["PolicyDocument"]["Statement"]]
    actions = [a for st in statements for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])]
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= set(actions)
    assert all(st["Resource"] != "*" for st in statements)  # every grant names its queue, table, secret or function


def table(name: str) -> str:
    return json.dumps({"Fn::GetAtt": [name, "Arn"]}, sort_keys=True)


def _role_actions(resources: dict, function: str) -> dict[str, set]:
    role = resources[f"{function}Role"]["Properties"]
    out: dict[str, set] = {}
    for policy in role.get("Policies", []):
        for st in policy["PolicyDocument"]["Statement"]:
            out.setdefault(json.dumps(st["Resource"], sort_keys=True), set()).update(st["Action"])
    return out


def test_each_step_function_holds_only_its_own_permissions(bundles, tmp_path) -> None:
    resources = translated(bundles["sfn"], tmp_path)
    assert _role_actions(resources, "EmbedFunction") == {}  # the model is in the image: no AWS call at all
    assert [a for acts in _role_actions(resources, "RetrieveFunction").values() for a in acts] == [
        "secretsmanager:GetSecretValue"
    ]
    assert _role_actions(resources, "ReasonFunction") == {
        table("StateTable"): {"dynamodb:GetItem", "dynamodb:PutItem"},
        table("DecisionTable"): {"dynamodb:GetItem", "dynamodb:PutItem"},
    }  # its commit
    assert _role_actions(resources, "ActFunction") == {
        table("DecisionTable"): {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    }
    starter = _role_actions(resources, "StarterFunction")
    assert starter[json.dumps({"Ref": "AgentStateMachine"})] == {"states:StartExecution"}
    assert [a for key, acts in starter.items() if ":execution:" in key for a in acts] == ["states:DescribeExecution"]  # re-runs
    assert starter[table("EventsQueue")] == {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
    template = yaml.safe_load((bundles["sfn"] / "template.yaml").read_text())["Resources"]
    steps = {
        n: r["Properties"]["Environment"]["Variables"].get("WORKBENCH_STEP")
        for n, r in template.items()
        if r["Type"] == "AWS::Serverless::Function"
    }
    assert steps == {
        "EmbedFunction": "embed",
        "RetrieveFunction": "retrieve",
        "ReasonFunction": "reason",
        "ActFunction": "act",
        "StarterFunction": "start",
    }
    machine = template["AgentStateMachine"]["Properties"]
    assert machine["DefinitionSubstitutions"]["EmbedArn"] == {"Ref": "EmbedFunction.Alias"}  # the workflow calls the alias
    assert "ExecutionsFailedAlarm" in template and "ExecutionsFailedAlarm" in json.dumps(
        template["EmbedFunction"]["Properties"]["DeploymentPreference"]
    )


@pytest.mark.parametrize("name", ["default", "sfn", "fifo"])
def test_alarms_dashboard_and_log_retention(bundles, name) -> None:
    resources = yaml.safe_load((bundles[name] / "template.yaml").read_text())["Resources"]
    alarms = {n for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert {"ErrorRateAlarm", "LatencyTailAlarm", "DeadLetterAlarm", "OldestMessageAlarm"} <= alarms
    functions = [n for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    assert all(resources[f"{f}LogGroup"]["Properties"]["RetentionInDays"] == 30 for f in functions)
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body)["widgets"]  # valid JSON once substituted: the ${...} are inside strings
    shown = json.dumps(widgets)
    assert "records_failed" in shown and "records_duplicate" in shown and "ApproximateAgeOfOldestMessage" in shown
    assert "KmsMasterKeyId" not in resources["AlarmTopic"].get("Properties", {})  # CloudWatch cannot use aws/sns


def test_fifo_arm64_canary_options_reach_the_template_and_the_lock(bundles) -> None:
    resources = yaml.safe_load((bundles["fifo"] / "template.yaml").read_text())["Resources"]
    assert resources["EventsTopic"]["Properties"]["FifoTopic"] is True
    assert all(resources[q]["Properties"]["FifoQueue"] is True for q in ("EventsQueue", "EventsDLQ"))
    assert resources["EventsQueue"]["Properties"]["QueueName"] == {"Fn::Sub": "${AWS::StackName}-events.fifo"}
    function = resources["AgentFunction"]["Properties"]
    assert function["Architectures"] == ["arm64"] and function["AutoPublishAlias"] == "live"
    assert function["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    assert function["DeploymentPreference"] == {
        "Type": "Linear10PercentEvery1Minute",
        "Alarms": [{"Ref": "ErrorRateAlarm"}, {"Ref": "LatencyTailAlarm"}],
    }
    mapping = resources["QueueMapping"]["Properties"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 5} and mapping["FunctionName"] == {"Ref": "AgentFunction.Alias"}
    arm, x86 = ((bundles[n] / "requirements.lock").read_text() for n in ("fifo", "sfn"))
    assert "aarch64" in arm.splitlines()[0] and "x86_64" in x86.splitlines()[0]
    onnx = [next(line for line in text.splitlines() if line.startswith("onnxruntime==")) for text in (arm, x86)]
    assert onnx[0] != onnx[1]  # the same version, the other platform's wheel
    assert "--message-group-id <tenant>#<user_id>" in (bundles["fifo"] / "README.md").read_text()
    default = yaml.safe_load((bundles["default"] / "template.yaml").read_text())["Resources"]
    assert (
        "FifoTopic" not in default["EventsTopic"]["Properties"]
        and "AutoPublishAlias" not in default["AgentFunction"]["Properties"]
    )
