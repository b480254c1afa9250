"""The Step Functions workflow of the exported bundle as Amazon States Language: Embed -> Retrieve -> Reason -> Act.

The steps themselves are in serve/step_functions.py. Only Act is retried on any error (the ledger makes it safe to
repeat); a step that fails after its retries sends the event to the dead-letter queue. `validate_state_machine` and
`run_locally` check and run the definition offline, for tests and notebooks.
"""

from __future__ import annotations

from typing import Any

STEPS = ("Embed", "Retrieve", "Reason", "Act")
TRANSIENT_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "States.Timeout",
]


def state_machine(timeout_s: int) -> dict[str, Any]:
    """The Amazon States Language definition; `${<Step>Arn}` and `${DeadLetterQueueUrl}` are SAM substitutions."""
    states: dict[str, Any] = {}
    retry = {"IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 3, "JitterStrategy": "FULL"}
    for step, following in zip(STEPS, [*STEPS[1:], None]):
        # Act is safe to repeat (the ledger), so any failure of it is retried; the others on transient errors only.
        errors = ["States.ALL"] if step == "Act" else TRANSIENT_ERRORS
        states[step] = {
            "Type": "Task",
            "Resource": f"${{{step}Arn}}",
            "TimeoutSeconds": timeout_s,
            "Retry": [{"ErrorEquals": errors, **retry}],
            # States.ALL does not match a payload over the quota: that one is named.
            "Catch": [
                {"ErrorEquals": ["States.DataLimitExceeded"], "ResultPath": "$.error", "Next": "DeadLetter"},
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "DeadLetter"},
            ],
            **({"Next": following} if following else {"End": True}),
        }
    states["DeadLetter"] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage",
        "Parameters": {
            "QueueUrl": "${DeadLetterQueueUrl}",
            "MessageBody.$": "$.dead_letter",
            "MessageAttributes": {
                "error": {"DataType": "String", "StringValue.$": "States.JsonToString($.error)"},
                "execution": {"DataType": "String", "StringValue.$": "$$.Execution.Id"},
            },
        },
        "Retry": [{"ErrorEquals": ["States.ALL"], **retry, "MaxAttempts": 6}],
        "Next": "Failed",
    }
    states["Failed"] = {
        "Type": "Fail",
        "Error": "AgentStepFailed",
        "Cause": "a step failed after its retries; event sent to the DLQ",
    }
    return {"Comment": "Agent Workbench: Embed -> Retrieve -> Reason -> Act", "StartAt": STEPS[0], "States": states}


def validate_state_machine(definition: dict[str, Any]) -> None:
    """Offline checks of the definition's structure; raises ValueError naming the state at fault."""
    states = definition.get("States") or {}
    if definition.get("StartAt") not in states:
        raise ValueError(f"StartAt {definition.get('StartAt')!r} is not a state")
    for name, st in states.items():
        targets = [st.get("Next")] + [c.get("Next") for c in st.get("Catch", [])]
        for target in filter(None, targets):
            if target not in states:
                raise ValueError(f"state {name!r} goes to {target!r}, which does not exist")
        if st["Type"] == "Task" and not (st.get("Next") or st.get("End")):
            raise ValueError(f"task {name!r} has neither Next nor End")
        for retry in st.get("Retry", []):
            if not retry.get("ErrorEquals") or retry.get("BackoffRate", 2.0) < 1 or retry.get("MaxAttempts", 3) < 0:
                raise ValueError(f"state {name!r} has an invalid Retry {retry}")
    if not any(st.get("End") or st["Type"] in ("Succeed", "Fail") for st in states.values()):
        raise ValueError("the state machine never ends")


def happy_path(definition: dict[str, Any]) -> list[str]:
    """The states an execution enters when no step fails: one billed state transition each."""
    path, name = [], definition["StartAt"]
    while name is not None:
        path.append(name)
        name = None if definition["States"][name].get("End") else definition["States"][name].get("Next")
    return path


def run_locally(definition: dict[str, Any], steps: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """Follow the definition from StartAt, calling `steps[name](state)` for each Task (for tests and notebooks)."""
    validate_state_machine(definition)
    name = definition["StartAt"]
    while True:
        st = definition["States"][name]
        if st["Type"] == "Fail":
            raise RuntimeError(f"{st['Error']}: {state.get('error')}")
        try:
            state = steps[name](state)
        except Exception as exc:  # noqa: BLE001 - mirrors the definition's Catch on States.ALL
            state, name = {**state, "error": f"{type(exc).__name__}: {exc}"}, st["Catch"][0]["Next"]
            continue
        if st.get("End"):
            return state
        name = st["Next"]
