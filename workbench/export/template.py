"""The SAM template and Dockerfile of a bundle, generated from the config so that they cannot drift from it."""

from __future__ import annotations

from typing import Any

from workbench.config import AgentConfig


def sam_template(cfg: AgentConfig, run_id: str | None, image: bool) -> dict[str, Any]:
    d = cfg.deploy
    sub = {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${PineconeSecretName}-*"}
    function: dict[str, Any] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "Description": f"Agent Workbench {cfg.name} (config_id {cfg.config_id})",
            "MemorySize": d.memory_mb, "Timeout": d.timeout_s, "ReservedConcurrentExecutions": d.reserved_concurrency,
            "Tracing": "Active", "Architectures": ["x86_64"],
            "Environment": {"Variables": {
                "STATE_TABLE": {"Ref": "StateTable"}, "IDEMPOTENCY_TABLE": {"Ref": "IdempotencyTable"},
                "DECISION_TABLE": {"Ref": "DecisionTable"}, "PINECONE_HOST": {"Ref": "PineconeHost"}, "PINECONE_SECRET_NAME": {"Ref": "PineconeSecretName"},
                "POWERTOOLS_SERVICE_NAME": "agent-workbench", "POWERTOOLS_METRICS_NAMESPACE": "AgentWorkbench",
                "WORKBENCH_CONFIG_ID": cfg.config_id, "STAGE": {"Ref": "StageName"}}},
            "Policies": [{"Statement": [
                {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
                 "Resource": {"Fn::GetAtt": ["StateTable", "Arn"]}},
                {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                 "Resource": {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}},
                # The delivery core's ledger: read, claim (conditional put), mark acted.
                {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                 "Resource": {"Fn::GetAtt": ["DecisionTable", "Arn"]}},
                {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": sub},
            ]}],
            "Events": {"Queue": {"Type": "SQS", "Properties": {
                "Queue": {"Fn::GetAtt": ["EventsQueue", "Arn"]}, "BatchSize": d.sqs_batch_size,
                "FunctionResponseTypes": ["ReportBatchItemFailures"]}}},
        },
    }
    if image:
        function["Properties"]["PackageType"] = "Image"
        function["Metadata"] = {"Dockerfile": "Dockerfile", "DockerContext": ".", "DockerTag": "python3.12"}
    else:
        function["Properties"].update({"PackageType": "Zip", "CodeUri": "build/", "Handler": "handler.handler",
                                       "Runtime": "python3.12"})
    secret_params = _secret_url_parameters(cfg)
    for env, param in secret_params.items():  # the function reads url_env from its environment, set at deploy time
        function["Properties"]["Environment"]["Variables"][env] = {"Ref": param}
    table_sse = {"SSEEnabled": True}
    resources_extra: dict[str, Any] = {}
    if d.orchestration == "step_functions":
        resources_extra = _step_functions(cfg, function, image)
    else:
        resources_extra = {"AgentFunction": function}
    from workbench.export.alarms import alarm_resources

    consumer = "StarterFunction" if d.orchestration == "step_functions" else "AgentFunction"
    resources_extra.update(alarm_resources(consumer, oldest_message_s=6 * d.timeout_s))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": f"Agent Workbench export: {cfg.name}, config_id {cfg.config_id}, MLflow run {run_id or '-'}",
        "Parameters": {
            "StageName": {"Type": "String", "Default": "dev", "AllowedPattern": "^[a-z0-9-]+$"},
            "PineconeHost": {"Type": "String", "Description": "Data-plane URL of the Pinecone index (see pinecone_index.json)"},
            "PineconeSecretName": {"Type": "String", "Default": "agent-workbench/pinecone",
                                   "Description": "Secrets Manager secret holding the Pinecone API key"},
            **{param: {"Type": "String", "NoEcho": True, "Description": f"Secret URL for the environment variable {env} (url_env in the config)"}
               for env, param in secret_params.items()},
        },
        "Resources": {
            "EventsTopic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": "alias/aws/sns"}},
            "EventsDLQ": {"Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": True}},
            "EventsQueue": {"Type": "AWS::SQS::Queue", "Properties": {
                "VisibilityTimeout": 6 * d.timeout_s, "SqsManagedSseEnabled": True,
                "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["EventsDLQ", "Arn"]}, "maxReceiveCount": d.max_receive_count}}},
            "EventsQueuePolicy": {"Type": "AWS::SQS::QueuePolicy", "Properties": {
                "Queues": [{"Ref": "EventsQueue"}],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                    "Resource": {"Fn::GetAtt": ["EventsQueue", "Arn"]},
                    "Condition": {"ArnEquals": {"aws:SourceArn": {"Ref": "EventsTopic"}}}}]}}},
            "EventsSubscription": {"Type": "AWS::SNS::Subscription", "Properties": {
                "TopicArn": {"Ref": "EventsTopic"}, "Protocol": "sqs", "Endpoint": {"Fn::GetAtt": ["EventsQueue", "Arn"]}}},
            "StateTable": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": {
                "BillingMode": "PAY_PER_REQUEST", "SSESpecification": table_sse,
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}},
            "IdempotencyTable": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete", "Properties": {
                "BillingMode": "PAY_PER_REQUEST", "SSESpecification": table_sse,
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True}}},
            # The decision log and the delivery core's ledger: one item per <tenant>#<event_id>, written once, then
            # marked acted; its stream feeds audit and replay consumers.
            "DecisionTable": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": {
                "BillingMode": "PAY_PER_REQUEST", "SSESpecification": table_sse,
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}},
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


def _secret_url_parameters(cfg: AgentConfig) -> dict[str, str]:
    """Environment variable -> NoEcho template parameter, for every actuator URL the config keeps in the environment."""
    actuators = [cfg.actuator] + ([cfg.escalation.actuator] if cfg.escalation.after else [])
    names = [a.url_env for a in actuators if a.kind in ("http", "slack") and a.url_env]
    return {env: "".join(part.capitalize() for part in env.split("_") if part.isalnum()) or "ActuatorUrl" for env in names}


def _step_functions(cfg: AgentConfig, base: dict[str, Any], image: bool) -> dict[str, Any]:
    """Starter (SQS -> StartExecution, one execution per event id) + one function per step + the state machine."""
    import copy

    from workbench.export.alarms import failed_executions_alarm
    from workbench.stages import STEPS, state_machine

    def variant(entry: str, events: bool) -> dict[str, Any]:
        fn = copy.deepcopy(base)
        if not events:
            del fn["Properties"]["Events"]
            fn["Properties"].pop("ReservedConcurrentExecutions")
        if image:
            fn["Properties"]["ImageConfig"] = {"Command": [f"handler.{entry}"]}
        else:
            fn["Properties"]["Handler"] = f"handler.{entry}"
        return fn

    out: dict[str, Any] = {f"{step}Function": variant(f"{step.lower()}_step", events=False) for step in STEPS}
    starter = variant("start_handler", events=True)
    starter["Properties"]["Environment"]["Variables"]["STATE_MACHINE_ARN"] = {"Ref": "AgentStateMachine"}
    executions = {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${AgentStateMachine.Name}:*"}
    starter["Properties"]["Policies"] = [{"Statement": [  # describe: is an existing execution of the event closed unsuccessfully?
        {"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": {"Ref": "AgentStateMachine"}},
        {"Effect": "Allow", "Action": ["states:DescribeExecution"], "Resource": executions}]}]
    out["StarterFunction"] = starter
    out["FailedExecutionsAlarm"] = failed_executions_alarm()
    out["AgentStateMachine"] = {"Type": "AWS::Serverless::StateMachine", "Properties": {
        "Definition": state_machine(cfg.deploy.timeout_s), "Tracing": {"Enabled": True},
        "DefinitionSubstitutions": {**{f"{step}Arn": {"Fn::GetAtt": [f"{step}Function", "Arn"]} for step in STEPS},
                                    "DeadLetterQueueUrl": {"Ref": "EventsDLQ"}},
        "Policies": [*({"LambdaInvokePolicy": {"FunctionName": {"Ref": f"{step}Function"}}} for step in STEPS),
                     {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["EventsDLQ", "QueueName"]}}}]}}
    return out


def dockerfile(with_bm25: bool = False) -> str:
    """The function as a container image: the ONNX model and its runtime exceed a zip's 250 MB unzipped limit."""
    bm25 = "COPY bm25 ${LAMBDA_TASK_ROOT}/bm25\n" if with_bm25 else ""
    return f"""\
# The function as a container image: the ONNX model and its runtime exceed a zip's 250 MB unzipped limit.
FROM public.ecr.aws/lambda/python:3.12
COPY requirements.txt ${{LAMBDA_TASK_ROOT}}/
RUN pip install --no-cache-dir -r ${{LAMBDA_TASK_ROOT}}/requirements.txt --target ${{LAMBDA_TASK_ROOT}}
COPY handler.py config.json ${{LAMBDA_TASK_ROOT}}/
COPY workbench ${{LAMBDA_TASK_ROOT}}/workbench
COPY model ${{LAMBDA_TASK_ROOT}}/model
{bm25}ENV WORKBENCH_MODEL_DIR=${{LAMBDA_TASK_ROOT}}/model
CMD ["handler.handler"]
"""
