"""The SAM template and Dockerfile of a bundle, generated from the config so that they cannot drift from it."""

from __future__ import annotations

from typing import Any

from workbench.config import AgentConfig
from workbench.deploy.functions import functions
from workbench.deploy.monitoring import alarm_resources


def sam_template(cfg: AgentConfig, run_id: str | None) -> dict[str, Any]:
    d = cfg.deploy
    env: dict[str, Any] = {
        "STATE_TABLE": {"Ref": "StateTable"},
        "IDEMPOTENCY_TABLE": {"Ref": "IdempotencyTable"},
        "DECISION_TABLE": {"Ref": "DecisionTable"},
        "DEAD_LETTER_QUEUE_URL": {"Ref": "EventsDLQ"},  # bad input goes there at once (serve/sqs_deadletter.py)
        "PINECONE_HOST": {"Ref": "PineconeHost"},
        "PINECONE_SECRET_NAME": {"Ref": "PineconeSecretName"},
        "POWERTOOLS_SERVICE_NAME": "agent-workbench",
        "POWERTOOLS_METRICS_NAMESPACE": "AgentWorkbench",
        "WORKBENCH_CONFIG_ID": cfg.config_id,
        "STAGE": {"Ref": "StageName"},
    }
    secret_params = _secret_url_parameters(cfg)
    for var, param in secret_params.items():  # the function reads url_env from its environment, set at deploy time
        env[var] = {"Ref": param}
    sfn = d.orchestration == "step_functions"
    resources_extra = functions(cfg, env)
    consumer = "StarterFunction" if sfn else "AgentFunction"
    names = [n for n, r in resources_extra.items() if r["Type"] == "AWS::Serverless::Function"]
    resources_extra.update(alarm_resources(consumer, oldest_message_s=6 * d.timeout_s, log_groups=names, state_machine=sfn))
    # FIFO: publishers give MessageGroupId <tenant>#<user_id> (see README); FIFO names must end in .fifo.
    fifo = {"FifoTopic": True, "ContentBasedDeduplication": True, "TopicName": _fifo_name("events")} if d.fifo else {}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": f"Agent Workbench export: {cfg.name}, config_id {cfg.config_id}, MLflow run {run_id or '-'}",
        "Parameters": {
            "StageName": {"Type": "String", "Default": "dev", "AllowedPattern": "^[a-z0-9-]+$"},
            "PineconeHost": {"Type": "String", "Description": "Data-plane URL of the Pinecone index (see pinecone_index.json)"},
            "PineconeSecretName": {
                "Type": "String",
                "Default": "agent-workbench/pinecone",
                "Description": "Secrets Manager secret holding the Pinecone API key",
            },
            **{
                param: {
                    "Type": "String",
                    "NoEcho": True,
                    "Description": f"Secret URL for the environment variable {var} (url_env in the config)",
                }
                for var, param in secret_params.items()
            },
        },
        "Resources": {
            "EventsTopic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": "alias/aws/sns", **fifo}},
            "EventsDLQ": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": True, **_fifo_queue(d.fifo, "dlq")},
            },
            "EventsQueue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "VisibilityTimeout": 6 * d.timeout_s,
                    "SqsManagedSseEnabled": True,
                    **_fifo_queue(d.fifo, "events"),
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["EventsDLQ", "Arn"]},
                        "maxReceiveCount": d.max_receive_count,
                    },
                },
            },
            "EventsQueuePolicy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [{"Ref": "EventsQueue"}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "sns.amazonaws.com"},
                                "Action": "sqs:SendMessage",
                                "Resource": {"Fn::GetAtt": ["EventsQueue", "Arn"]},
                                "Condition": {"ArnEquals": {"aws:SourceArn": {"Ref": "EventsTopic"}}},
                            }
                        ],
                    },
                },
            },
            "EventsSubscription": {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "TopicArn": {"Ref": "EventsTopic"},
                    "Protocol": "sqs",
                    "Endpoint": {"Fn::GetAtt": ["EventsQueue", "Arn"]},
                },
            },
            "StateTable": _table("pk", ttl="expires_at"),
            "IdempotencyTable": _table("id", ttl="expiration", retain=False),
            # The decision log and the delivery core's ledger: one item per <tenant>#<event_id>, written once, then
            # marked acted; its stream feeds audit and replay consumers.
            "DecisionTable": _table("pk", stream=True),
            **resources_extra,
        },
        "Outputs": {
            "TopicArn": {"Value": {"Ref": "EventsTopic"}, "Description": "Publish events here"},
            "QueueUrl": {"Value": {"Ref": "EventsQueue"}},
            "DeadLetterQueueUrl": {"Value": {"Ref": "EventsDLQ"}},
            "DecisionStreamArn": {"Value": {"Fn::GetAtt": ["DecisionTable", "StreamArn"]}},
            "FunctionName": {"Value": {"Ref": consumer}},
            "AlarmTopicArn": {"Value": {"Ref": "AlarmTopic"}, "Description": "Subscribe on-call here"},
        },
    }


def _fifo_name(name: str) -> dict[str, str]:
    return {"Fn::Sub": f"${{AWS::StackName}}-{name}.fifo"}


def _fifo_queue(fifo: bool, name: str) -> dict[str, Any]:
    return {"FifoQueue": True, "QueueName": _fifo_name(name)} if fifo else {}


def _secret_url_parameters(cfg: AgentConfig) -> dict[str, str]:
    """Environment variable -> NoEcho template parameter, for every actuator URL the config keeps in the environment."""
    actuators = [cfg.actuator] + ([cfg.escalation.actuator] if cfg.escalation.after else [])
    names = [a.url_env for a in actuators if a.kind in ("http", "slack") and a.url_env]
    return {env: "".join(part.capitalize() for part in env.split("_") if part.isalnum()) or "ActuatorUrl" for env in names}


def dockerfile(with_bm25: bool = False) -> str:
    """The function as a container image: the ONNX model and its runtime exceed a zip's 250 MB unzipped limit."""
    bm25 = "COPY bm25 ${LAMBDA_TASK_ROOT}/bm25\n" if with_bm25 else ""
    return f"""\
# The function as a container image: the ONNX model and its runtime exceed a zip's 250 MB unzipped limit.
# requirements.lock pins every package with its wheel's sha256 (resolved at export from requirements.txt).
FROM public.ecr.aws/lambda/python:3.12
COPY requirements.lock ${{LAMBDA_TASK_ROOT}}/
RUN pip install --no-cache-dir --require-hashes --no-deps --only-binary=:all: -r ${{LAMBDA_TASK_ROOT}}/requirements.lock --target ${{LAMBDA_TASK_ROOT}}
COPY handler.py config.json ${{LAMBDA_TASK_ROOT}}/
COPY workbench ${{LAMBDA_TASK_ROOT}}/workbench
# Bytecode now: the function's file system is read-only, so a module without it is compiled again at every cold start.
RUN python -m compileall -q ${{LAMBDA_TASK_ROOT}}/handler.py ${{LAMBDA_TASK_ROOT}}/workbench
COPY model ${{LAMBDA_TASK_ROOT}}/model
{bm25}ENV WORKBENCH_MODEL_DIR=${{LAMBDA_TASK_ROOT}}/model
# numpy's BLAS starts one thread per core at import (40 ms of a cold start) for products a single thread computes alike.
ENV OPENBLAS_NUM_THREADS=1
CMD ["handler.handler"]
"""


def _table(key: str, *, ttl: str | None = None, retain: bool = True, stream: bool = False) -> dict[str, Any]:
    """An on-demand, encrypted table keyed by the string `key`. Kept tables (state, decisions) survive a stack
    deletion and have point-in-time recovery; the idempotency records expire within a day and are not kept."""
    policy = "Retain" if retain else "Delete"
    props: dict[str, Any] = {
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": {"SSEEnabled": True},
        "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
    }
    if ttl:
        props["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
    if stream:
        props["StreamSpecification"] = {"StreamViewType": "NEW_IMAGE"}
    if retain:
        props["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": policy, "UpdateReplacePolicy": policy, "Properties": props}
