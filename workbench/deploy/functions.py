"""The bundle's Lambda functions, their SQS event source mapping and their IAM: every grant names its resource.

The queue is mapped with an explicit `AWS::Lambda::EventSourceMapping`, not a SAM `SQS` event: that event attaches
AWSLambdaSQSQueueExecutionRole, which grants receive and delete on every queue (`*`). Each function gets only the
statements of `ROLES`; in Step Functions mode each step is its own function and builds only the backends it calls
(`serve.lambda_handler.STEP_BACKENDS`), so the Embed step holds no grant at all.
"""

from __future__ import annotations

import copy
from typing import Any

from workbench.config import AgentConfig
from workbench.deploy.monitoring import rollback_alarms

SECRET_ARN = {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${PineconeSecretName}-*"}
GRANTS: dict[str, dict[str, Any]] = {
    "state": {"Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": {"Fn::GetAtt": ["StateTable", "Arn"]}},
    "idempotency": {
        "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
        "Resource": {"Fn::GetAtt": ["IdempotencyTable", "Arn"]},
    },
    # The delivery core's ledger: read, claim (conditional put), mark acted.
    "ledger": {
        "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
        "Resource": {"Fn::GetAtt": ["DecisionTable", "Arn"]},
    },
    # The Step Functions Reason step's commit of its decision: read, claim (conditional put); Act marks it.
    "commit": {"Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": {"Fn::GetAtt": ["DecisionTable", "Arn"]}},
    "secret": {"Action": ["secretsmanager:GetSecretValue"], "Resource": SECRET_ARN},
    # What the event source mapping does with the function's role: poll, delete what succeeded.
    "queue": {
        "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
        "Resource": {"Fn::GetAtt": ["EventsQueue", "Arn"]},
    },
    # Bad input, sent to the DLQ at once with its reason (serve/sqs_deadletter.py).
    "deadletter": {"Action": ["sqs:SendMessage"], "Resource": {"Fn::GetAtt": ["EventsDLQ", "Arn"]}},
    "start": {"Action": ["states:StartExecution"], "Resource": {"Ref": "AgentStateMachine"}},
    # Is an existing execution of a redelivered event closed without success? Then the starter starts a new attempt.
    "describe": {
        "Action": ["states:DescribeExecution"],
        "Resource": {
            "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${AgentStateMachine.Name}:*"
        },
    },
}
ROLES = {
    "AgentFunction": ("state", "idempotency", "ledger", "secret", "queue", "deadletter"),
    "StarterFunction": ("start", "describe", "queue", "deadletter"),
    "EmbedFunction": (),
    "RetrieveFunction": ("secret",),
    "ReasonFunction": ("state", "commit"),
    "ActFunction": ("ledger",),
}


def functions(cfg: AgentConfig, env: dict[str, Any]) -> dict[str, Any]:
    """AgentFunction and its queue mapping; or, for Step Functions, the starter, one function per step and the machine."""
    if cfg.deploy.orchestration == "function":
        return {
            "AgentFunction": _function(cfg, "AgentFunction", env, "handler.handler", consumer=True),
            **_queue_mapping(cfg, "AgentFunction"),
        }
    from workbench.deploy.state_machine import STEPS, state_machine

    out = {
        f"{step}Function": _function(
            cfg, f"{step}Function", {**env, "WORKBENCH_STEP": step.lower()}, f"handler.{step.lower()}_step"
        )
        for step in STEPS
    }
    out["StarterFunction"] = _function(
        cfg,
        "StarterFunction",
        {**env, "WORKBENCH_STEP": "start", "STATE_MACHINE_ARN": {"Ref": "AgentStateMachine"}},
        "handler.start_handler",
        consumer=True,
        builds_agent=False,
    )
    out.update(_queue_mapping(cfg, "StarterFunction"))
    target = "Alias" if cfg.deploy.alias else None
    out["AgentStateMachine"] = {
        "Type": "AWS::Serverless::StateMachine",
        "Properties": {
            "Definition": state_machine(cfg.deploy.timeout_s),
            "Tracing": {"Enabled": True},
            "DefinitionSubstitutions": {
                **{
                    f"{step}Arn": {"Ref": f"{step}Function.Alias"} if target else {"Fn::GetAtt": [f"{step}Function", "Arn"]}
                    for step in STEPS
                },
                "DeadLetterQueueUrl": {"Ref": "EventsDLQ"},
            },
            # Each step may invoke only its own function (and, with an alias, only through it), and send only to the DLQ.
            "Policies": [
                *({"LambdaInvokePolicy": {"FunctionName": {"Ref": f"{step}Function"}}} for step in STEPS),
                {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["EventsDLQ", "QueueName"]}}},
            ],
        },
    }
    return out


def _function(
    cfg: AgentConfig, name: str, env: dict[str, Any], command: str, consumer: bool = False, builds_agent: bool = True
) -> dict[str, Any]:
    d = cfg.deploy
    props: dict[str, Any] = {
        "Description": f"Agent Workbench {cfg.name} (config_id {cfg.config_id}): {name}",
        "PackageType": "Image",
        "ImageConfig": {"Command": [command]},
        "MemorySize": d.memory_mb if builds_agent else 256,
        "Timeout": d.timeout_s,
        "Tracing": "Active",
        "Architectures": [d.architecture],
        "Environment": {"Variables": copy.deepcopy(env)},
    }
    statements = [{"Effect": "Allow", **GRANTS[grant]} for grant in ROLES[name]]
    if statements:
        props["Policies"] = [{"Statement": statements}]
    if consumer:
        props["ReservedConcurrentExecutions"] = d.reserved_concurrency
    if d.alias:
        props["AutoPublishAlias"] = d.alias
        if d.provisioned_concurrency and builds_agent:  # the starter loads no model: nothing to keep warm
            props["ProvisionedConcurrencyConfig"] = {"ProvisionedConcurrentExecutions": d.provisioned_concurrency}
        if d.deployment != "AllAtOnce":
            props["DeploymentPreference"] = {"Type": d.deployment, "Alarms": rollback_alarms(d.orchestration == "step_functions")}
    return {
        "Type": "AWS::Serverless::Function",
        "Properties": props,
        "Metadata": {"Dockerfile": "Dockerfile", "DockerContext": ".", "DockerTag": "python3.12"},
    }


def _queue_mapping(cfg: AgentConfig, function: str) -> dict[str, Any]:
    """The queue -> function mapping, through the alias when there is one (provisioned concurrency lives there)."""
    d = cfg.deploy
    props: dict[str, Any] = {
        "EventSourceArn": {"Fn::GetAtt": ["EventsQueue", "Arn"]},
        "FunctionName": {"Ref": f"{function}.Alias"} if d.alias else {"Ref": function},
        "BatchSize": d.sqs_batch_size,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }
    if d.batching_window_s:
        props["MaximumBatchingWindowInSeconds"] = d.batching_window_s
    if d.max_concurrency:
        props["ScalingConfig"] = {"MaximumConcurrency": d.max_concurrency}
    return {"QueueMapping": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": props}}
