"""CloudWatch alarms, a dashboard, log retention and an alarm topic for a bundle's SAM template.

The alarms the source article asks for: error rate above 1%, p99 latency above twice the median, anything in the
DLQ, and the age of the queue's oldest message (work is piling up); in Step Functions mode also any failed
execution. Each notifies `AlarmTopic`; the error-rate and latency alarms (and failed executions) also roll back a
canary or linear deployment (`ROLLBACK_ALARMS`). The DLQ alarm does not: messages left over from an earlier
incident would block every deployment.
"""

from __future__ import annotations

import json
from typing import Any

LOG_RETENTION_DAYS = 30
ROLLBACK_ALARMS = ("ErrorRateAlarm", "LatencyTailAlarm")
OUTCOMES = ("handled", "duplicate", "rejected", "failed", "in_progress")  # the handler's records_<status> metrics
STAGES = ("embedding_latency_ms", "vector_search_latency_ms", "reasoning_latency_ms", "decision_latency_ms")


def _alarm(description: str, metrics: list[dict[str, Any]] | None = None, threshold: float = 0, **single: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "AlarmDescription": description,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": threshold,
        "EvaluationPeriods": 5,
        "DatapointsToAlarm": 3,
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": "AlarmTopic"}],
    }
    if metrics:
        props["Metrics"] = metrics
    else:
        props.update({"Period": 60, **single})
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": props}


def _stat(ident: str, metric: str, namespace: str, dimensions: list[dict[str, Any]], stat: str) -> dict[str, Any]:
    return {
        "Id": ident,
        "ReturnData": False,
        "MetricStat": {
            "Stat": stat,
            "Period": 60,
            "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions},
        },
    }


def alarm_resources(function: str, oldest_message_s: int, log_groups: list[str], state_machine: bool = False) -> dict[str, Any]:
    """Alarms on `function` (the SQS consumer) and the queues, a log group with a retention for each function in
    `log_groups`, the alarm topic."""
    fn = [{"Name": "FunctionName", "Value": {"Ref": function}}]
    queue = [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["EventsQueue", "QueueName"]}}]
    dlq = [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["EventsDLQ", "QueueName"]}}]
    out: dict[str, Any] = {
        # Not encrypted with alias/aws/sns: CloudWatch cannot use an AWS-managed key, and its alarms would never arrive.
        "AlarmTopic": {"Type": "AWS::SNS::Topic"},
        **{
            f"{name}LogGroup": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{name}}}"}, "RetentionInDays": LOG_RETENTION_DAYS},
            }
            for name in log_groups
        },
        "ErrorRateAlarm": _alarm(
            "More than 1% of invocations failed",
            threshold=1,
            metrics=[
                _stat("errors", "Errors", "AWS/Lambda", fn, "Sum"),
                _stat("invocations", "Invocations", "AWS/Lambda", fn, "Sum"),
                {"Id": "rate", "Expression": "100 * errors / MAX([invocations, 1])", "Label": "error rate %", "ReturnData": True},
            ],
        ),
        "LatencyTailAlarm": _alarm(
            "p99 duration above twice the median",
            threshold=2,
            metrics=[
                _stat("p99", "Duration", "AWS/Lambda", fn, "p99"),
                _stat("p50", "Duration", "AWS/Lambda", fn, "p50"),
                {"Id": "ratio", "Expression": "p99 / MAX([p50, 1])", "Label": "p99 / p50", "ReturnData": True},
            ],
        ),
        "DeadLetterAlarm": _alarm(
            "Messages in the dead-letter queue",
            Namespace="AWS/SQS",
            Dimensions=dlq,
            Statistic="Maximum",
            MetricName="ApproximateNumberOfMessagesVisible",
        ),
        "OldestMessageAlarm": _alarm(
            "The oldest queued event waits too long",
            threshold=oldest_message_s,
            Namespace="AWS/SQS",
            Dimensions=queue,
            Statistic="Maximum",
            MetricName="ApproximateAgeOfOldestMessage",
        ),
    }
    if state_machine:
        machine = [{"Name": "StateMachineArn", "Value": {"Ref": "AgentStateMachine"}}]
        out["ExecutionsFailedAlarm"] = _alarm(
            "Workflow executions failed, timed out or were aborted",
            metrics=[
                *(
                    _stat(ident, metric, "AWS/States", machine, "Sum")
                    for ident, metric in (
                        ("failed", "ExecutionsFailed"),
                        ("timedout", "ExecutionsTimedOut"),
                        ("aborted", "ExecutionsAborted"),
                    )
                ),
                {
                    "Id": "closed",
                    "Expression": "failed + timedout + aborted",
                    "Label": "executions closed unsuccessfully",
                    "ReturnData": True,
                },
            ],
        )
        out["ExecutionsFailedAlarm"]["Properties"].update(
            EvaluationPeriods=1, DatapointsToAlarm=1
        )  # one lost event is one too many
    out["Dashboard"] = dashboard(function, state_machine)
    return out


def rollback_alarms(state_machine: bool) -> list[dict[str, str]]:
    return [{"Ref": name} for name in (*ROLLBACK_ALARMS, *(("ExecutionsFailedAlarm",) if state_machine else ()))]


def dashboard(function: str, state_machine: bool) -> dict[str, Any]:
    """One page: the consumer's invocations, errors and latency, the queues, record outcomes and stage latencies."""
    fn = ["FunctionName", f"${{{function}}}"]
    app = ["AgentWorkbench", "service", "agent-workbench"]

    def widget(title: str, metrics: list[list[Any]], stat: str = "Sum") -> dict[str, Any]:
        return {
            "type": "metric",
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": "${AWS::Region}",
                "stat": stat,
                "period": 60,
                "view": "timeSeries",
                "metrics": metrics,
            },
        }

    widgets = [
        widget("Invocations, errors, throttles", [["AWS/Lambda", m, *fn] for m in ("Invocations", "Errors", "Throttles")]),
        widget("Duration p50 / p99 (ms)", [["AWS/Lambda", "Duration", *fn, {"stat": s}] for s in ("p50", "p99")]),
        widget(
            "Queue depth and DLQ",
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"${{{q}.QueueName}}"]
                for q in ("EventsQueue", "EventsDLQ")
            ],
            stat="Maximum",
        ),
        widget(
            "Oldest queued event (s)",
            [["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", "${EventsQueue.QueueName}"]],
            stat="Maximum",
        ),
        widget("Records by outcome", [[app[0], f"records_{o}", *app[1:]] for o in OUTCOMES]),
        widget("Stage latency p99 (ms)", [[app[0], m, *app[1:]] for m in STAGES], stat="p99"),
    ]
    if state_machine:
        widgets.append(
            widget(
                "Workflow executions",
                [
                    ["AWS/States", m, "StateMachineArn", "${AgentStateMachine}"]
                    for m in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed")
                ],
            )
        )
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {
            "DashboardName": {"Fn::Sub": "${AWS::StackName}-agent"},
            "DashboardBody": {"Fn::Sub": json.dumps({"widgets": widgets})},
        },
    }
