"""The Lambda's bad input goes to the dead-letter queue at once, redacted, with why and where it was rejected.

Retrying cannot fix it, and SQS's own move past maxReceiveCount kept neither: the reason stayed in a log line, the
body went over as sent, after every retry had raised the error rate. The body is redacted as the local bus's DLQ
keeps it (`deadletter.redacted_body`: ids kept, envelopes opened); `error` and `source` are message attributes.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from typing import Any

from workbench.errors import DataError
from workbench.redaction import storable
from workbench.serve.deadletter import redacted_body

MAX_BODY_BYTES = 200_000  # SQS takes 256 KiB with the attributes; redaction can lengthen a body ([EMAIL] for a@b.c)
MAX_ATTRIBUTE_CHARS = 4000
# Characters SQS refuses in a message; compiled at first use (re's cache), not at the Lambda's cold start.
NOT_SQS = "[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"


def queue_url() -> str | None:
    """The bundle's DLQ (template.yaml sets it); without one, a bad record fails and SQS moves it after its retries."""
    return os.environ.get("DEAD_LETTER_QUEUE_URL")


@lru_cache(maxsize=1)
def _client() -> Any:
    import boto3

    return boto3.client("sqs")


def dead_letter(record: dict[str, Any], rejected: list[tuple[str, str]]) -> None:
    """Send one SQS record's body to the DLQ with its rejected events' (reason, source); raises if SQS refuses, so the
    record fails and is kept by a retry."""
    reason, source = ("; ".join(part) for part in zip(*rejected))
    url = queue_url()
    if not url:  # no DLQ named: the record fails, and SQS moves it past maxReceiveCount
        raise DataError(reason)
    body = redacted_body(str(record.get("body", "")).encode("utf-8", "backslashreplace"))[:MAX_BODY_BYTES]
    params: dict[str, Any] = {
        "QueueUrl": url,
        "MessageBody": _sqs_text(body.decode("utf-8", "ignore")) or "{}",
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": _sqs_text(storable(value))[:MAX_ATTRIBUTE_CHARS] or "-"}
            for name, value in (("error", reason), ("source", source))
        },
    }
    if url.endswith(".fifo"):  # a FIFO queue's DLQ is FIFO: the message keeps its group
        group = (record.get("attributes") or {}).get("MessageGroupId") or "rejected"
        params.update(
            MessageGroupId=group, MessageDeduplicationId=hashlib.sha256(str(record.get("messageId")).encode()).hexdigest()
        )
    _client().send_message(**params)


def _sqs_text(text: str) -> str:
    return re.sub(NOT_SQS, "?", text)
