"""CloudWatch alarms, log retention and an alarm topic for a bundle's SAM template.

The alarms the source article asks for: error rate above 1%, p99 latency above twice the median, anything in the
DLQ, and the age of the queue's oldest message (work is piling up). Each notifies `AlarmTopic`.
"""

from __future__ import annotations

from typing import Any

LOG_RETENTION_DAYS = 30


def _alarm(description: str, metrics: list[dict[str, Any]] | None = None, threshold: float = 0, **single: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"AlarmDescription": description, "ComparisonOperator": "GreaterThanThreshold",
                             "Threshold": threshold, "EvaluationPeriods": 5, "DatapointsToAlarm": 3,
                             "TreatMissingData": "notBreaching", "AlarmActions": [{"Ref": "AlarmTopic"}]}
    if metrics:
        props["Metrics"] = metrics
    else:
        props.update({"Period": 60, **single})
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": props}


def _stat(ident: str, metric: str, namespace: str, dimensions: list[dict[str, Any]], stat: str) -> dict[str, Any]:
    return {"Id": ident, "ReturnData": False, "MetricStat": {"Stat": stat, "Period": 60, "Metric": {
        "Namespace": namespace, "MetricName": metric, "Dimensions": dimensions}}}


def alarm_resources(function: str, oldest_message_s: int) -> dict[str, Any]:
    """Alarms on `function` (the SQS consumer) and the queues, its log group with a retention, the alarm topic."""
    fn = [{"Name": "FunctionName", "Value": {"Ref": function}}]
    queue = [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["EventsQueue", "QueueName"]}}]
    dlq = [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["EventsDLQ", "QueueName"]}}]
    return {
        "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": "alias/aws/sns"}},
        "FunctionLogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {
            "LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{function}}}"}, "RetentionInDays": LOG_RETENTION_DAYS}},
        "ErrorRateAlarm": _alarm("More than 1% of invocations failed", threshold=1, metrics=[
            _stat("errors", "Errors", "AWS/Lambda", fn, "Sum"), _stat("invocations", "Invocations", "AWS/Lambda", fn, "Sum"),
            {"Id": "rate", "Expression": "100 * errors / MAX([invocations, 1])", "Label": "error rate %", "ReturnData": True}]),
        "LatencyTailAlarm": _alarm("p99 duration above twice the median", threshold=2, metrics=[
            _stat("p99", "Duration", "AWS/Lambda", fn, "p99"), _stat("p50", "Duration", "AWS/Lambda", fn, "p50"),
            {"Id": "ratio", "Expression": "p99 / MAX([p50, 1])", "Label": "p99 / p50", "ReturnData": True}]),
        "DeadLetterAlarm": _alarm("Messages in the dead-letter queue", Namespace="AWS/SQS", Dimensions=dlq, Statistic="Maximum",
                                  MetricName="ApproximateNumberOfMessagesVisible"),
        "OldestMessageAlarm": _alarm("The oldest queued event waits too long", threshold=oldest_message_s, Namespace="AWS/SQS",
                                     Dimensions=queue, Statistic="Maximum", MetricName="ApproximateAgeOfOldestMessage"),
    }


def failed_executions_alarm() -> dict[str, Any]:
    """Step Functions mode: any execution that failed, timed out or was aborted (its event went to the DLQ, or, if
    even that failed, only this alarm says so)."""
    machine = [{"Name": "StateMachineArn", "Value": {"Ref": "AgentStateMachine"}}]
    alarm = _alarm("Step Functions executions failed, timed out or were aborted", metrics=[
        *(_stat(ident, metric, "AWS/States", machine, "Sum") for ident, metric in
          (("failed", "ExecutionsFailed"), ("timedout", "ExecutionsTimedOut"), ("aborted", "ExecutionsAborted"))),
        {"Id": "closed", "Expression": "failed + timedout + aborted", "Label": "executions closed unsuccessfully", "ReturnData": True}])
    alarm["Properties"].update(EvaluationPeriods=1, DatapointsToAlarm=1)
    return alarm
