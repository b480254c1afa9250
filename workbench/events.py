"""Incoming events and the envelopes they arrive in (raw JSON, SNS, SQS, SNS inside SQS).

Parsing never raises for bad input: each record becomes a `Parsed` holding either an `Event`
or an error that says what is wrong and where, so one bad record cannot sink its batch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from workbench.filters import checked_filter
from workbench.redaction import redact

MAX_TEXT_CHARS = 8000
MAX_ENVELOPES = 4  # SNS in SQS is two; anything deeper is not a delivery format
MAX_ID_CHARS = 100  # of a message id quoted in a source
# Records of one message body (a line of a file, an SQS body): as many as one SQS receive. A body holding thousands
# made its Lambda record outlive the function's timeout, every retry starting over, and took its batch's other
# messages along. An invocation's own Records are bounded by AWS (the event source's batch size, up to 10,000).
MAX_RECORDS = 10
MetaValue = str | int | float | bool


def _scrubbed(value: str | None) -> str | None:
    """A correlation id is the sender's free text that reaches every log, store and header: redacted at the door."""
    return redact(value) if value else value


class Event(BaseModel):
    """One stimulus for the agent. Example::

    Event(tenant="acme", user_id="u1", text="Who won Super Bowl 50?")
    """

    # No NaN or infinity: neither is JSON, and a metadata value holding one could not be stored or sent on.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, allow_inf_nan=False)

    event_id: str = Field(min_length=1, max_length=256)
    tenant: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    user_id: str = Field(min_length=1, max_length=256)
    text: str
    channel: str = Field("default", min_length=1, max_length=256)
    metadata: dict[str, MetaValue] = Field(default_factory=dict)
    timestamp: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    correlation_id: Annotated[str | None, Field(max_length=256), AfterValidator(_scrubbed)] = None
    # Narrows retrieval for this event only (Pinecone filter language), e.g. an evaluation case's filter on replay.
    filter: Annotated[dict[str, Any] | None, AfterValidator(checked_filter)] = None

    @field_validator("text")
    @classmethod
    def _text_size(cls, v: str, info: ValidationInfo) -> str:
        limit = (info.context or {}).get("max_text_chars", MAX_TEXT_CHARS)
        if not v.strip():
            raise ValueError("text is empty")
        if len(v) > limit:
            raise ValueError(f"text is {len(v)} characters, over the limit of {limit}")
        return v

    @field_validator("timestamp")
    @classmethod
    def _utc_unless_said(cls, v: datetime) -> datetime:
        """No offset means UTC (as in the Lambda), not the local time of whichever machine runs the event."""
        return v if v.tzinfo is not None else v.replace(tzinfo=timezone.utc)

    @property
    def correlation(self) -> str:
        return self.correlation_id or self.event_id


def fifo_ids(event: Event) -> dict[str, str]:
    """SNS FIFO publish parameters: the user's message group (their events stay in order) and a deduplication id of
    (tenant, event id). A group that SNS would refuse (over 128 characters, or outside printable ASCII) is hashed."""
    group = f"{event.tenant}#{event.user_id}"
    if len(group) > 128 or not all(33 <= ord(c) <= 126 for c in group):
        group = f"{event.tenant}#{hashlib.sha256(event.user_id.encode()).hexdigest()[:60]}"
    return {
        "MessageGroupId": group,
        "MessageDeduplicationId": hashlib.sha256(f"{event.tenant}#{event.event_id}".encode()).hexdigest(),
    }


@dataclass(frozen=True)
class Parsed:
    """One record out of an envelope: an event, or the reason it was rejected."""

    source: str
    raw: Any
    event: Event | None = None
    error: str | None = None


def parse_payload(
    payload: str | bytes | dict | list, max_text_chars: int = MAX_TEXT_CHARS, source: str = "payload"
) -> list[Parsed]:
    """Unwrap any supported envelope and validate every record inside it.

    `source` says where the payload came from (a file and line, a message id); records inside an SQS or SNS
    envelope are named by their own messageId / MessageId."""
    try:
        return _parse(payload, source, max_text_chars, 0)
    except Exception as exc:  # noqa: BLE001 - the last guard of "never raises": whatever slips past the checks below
        return [Parsed(source, payload, error=f"{source}: unreadable payload ({type(exc).__name__})")]


def _too_many(payload: Any, source: str, count: int) -> Parsed:
    return Parsed(
        source, payload, error=f"{source}: a payload holds at most {MAX_RECORDS} records, this one {count}: send them apart"
    )


def _parse(payload: Any, source: str, limit: int, depth: int) -> list[Parsed]:
    if depth > MAX_ENVELOPES:
        return [Parsed(source, payload, error=f"{source}: envelopes nested over {MAX_ENVELOPES} deep")]
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [Parsed(source, payload, error=f"{source}: not valid UTF-8 at byte {exc.start}")]
    if isinstance(payload, str):
        try:
            payload = json.loads(payload.removeprefix("\ufeff"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            return [Parsed(source, payload, error=f"{source}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]
        except _NotJSON as exc:
            return [Parsed(source, payload, error=f"{source}: invalid JSON: {exc}")]
        except RecursionError:
            return [Parsed(source, payload, error=f"{source}: JSON nested too deeply to read")]
        except ValueError as exc:  # e.g. an integer over Python's 4300-digit limit
            return [Parsed(source, payload, error=f"{source}: JSON beyond the parser's limits: {exc}")]
    if depth == 0 and isinstance(payload, dict) and "Records" in payload:  # an invocation: AWS bounds it (its batch size)
        return _parse_records(payload["Records"], source, limit, depth)
    found = _contents(payload, source, limit, depth)
    return found if len(found) <= MAX_RECORDS else [_too_many(payload, source, len(found))]


def _contents(payload: Any, source: str, limit: int, depth: int) -> list[Parsed]:
    """What one message body holds, decoded: a list of payloads, an envelope, or an event."""
    items = payload if isinstance(payload, list) else payload.get("Records") if isinstance(payload, dict) else None
    if isinstance(items, list) and len(items) > MAX_RECORDS:  # refused before reading thousands of them
        return [_too_many(items, source, len(items))]
    if isinstance(payload, list):
        if not payload:
            return [Parsed(source, payload, error=f"{source}: empty list, no events in it")]
        return [p for i, item in enumerate(payload) for p in _parse(item, f"{source}[{i}]", limit, depth + 1)]
    if not isinstance(payload, dict):
        return [Parsed(source, payload, error=f"{source}: expected a JSON object, got {type(payload).__name__}")]
    if "Records" in payload:
        return _parse_records(payload["Records"], source, limit, depth)
    if payload.get("Type") == "Notification" and "Message" in payload:  # SNS inside SQS, raw delivery off
        return _parse(payload["Message"], _named(source, "sns", payload.get("MessageId"), ".Message"), limit, depth + 1)
    return [_validate(payload, source, limit)]


def _parse_records(records: Any, source: str, limit: int, depth: int) -> list[Parsed]:
    if not isinstance(records, list) or not records:
        return [Parsed(source, records, error=f"{source}.Records: expected a non-empty list, got {_shown(records, 40)}")]
    out: list[Parsed] = []
    for i, record in enumerate(records):
        where = f"{source}.Records[{i}]"
        if isinstance(record, dict) and isinstance(record.get("Sns"), dict) and "Message" in record["Sns"]:
            out += _parse(
                record["Sns"]["Message"],
                _named(source, "sns", record["Sns"].get("MessageId"), f".Records[{i}]"),
                limit,
                depth + 1,
            )
        elif isinstance(record, dict) and "body" in record:
            out += _parse(record["body"], _named(source, "sqs", record.get("messageId"), f".Records[{i}]"), limit, depth + 1)
        else:
            out.append(Parsed(where, record, error=f"{where}: neither an SNS record (Sns.Message) nor an SQS record (body)"))
    return out


def _named(source: str, kind: str, message_id: Any, position: str) -> str:
    """Where a record sits: its source and the envelope's message id (`events.jsonl:7/sqs:m1/sns:abc`), or, with no
    id, its position in the envelope. The id is the sender's text: bounded and redacted."""
    if isinstance(message_id, str) and message_id:
        return f"{source}/{kind}:{redact(message_id[:MAX_ID_CHARS])}"
    return f"{source}{position}"


class _NotJSON(ValueError):
    """Text the standard parser accepts but JSON does not allow (or that cannot mean one thing)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A key given twice is refused: the last one silently winning could move an event to another tenant."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _NotJSON(f"duplicate key {_shown(key, 60)}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise _NotJSON(f"{name} is not a JSON number")


def _validate(data: dict, source: str, limit: int) -> Parsed:
    try:
        event = Event.model_validate(data, context={"max_text_chars": limit})
    except ValidationError as exc:
        problems = "; ".join(_describe(err) for err in exc.errors())
        return Parsed(source, data, error=f"{source}: {problems}")
    bad = _unencodable(event)
    if bad:
        return Parsed(source, data, error=f"{source}: {bad}: text that cannot be encoded as UTF-8 (a lone surrogate)")
    return Parsed(source, data, event=event)


def _unencodable(event: Event) -> str | None:
    """The first field holding text that UTF-8 cannot encode; such text would fail at every store downstream."""
    fields = {
        "event_id": event.event_id,
        "user_id": event.user_id,
        "text": event.text,
        "channel": event.channel,
        "correlation_id": event.correlation_id or "",
        "filter": json.dumps(event.filter or {}, ensure_ascii=False),
        **{f"metadata.{k}": f"{k}{v}" for k, v in event.metadata.items()},
    }
    for name, value in fields.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return name
    return None


def _describe(err: Any) -> str:
    """One problem, redacted whole: the field path holds the sender's keys, and a validator's message may quote
    the value it refused (a filter's "expected a number, got '4111 ...'")."""
    field = ".".join(str(p) for p in err["loc"]) or "event"
    if err["type"] == "missing":
        return redact(f"{field}: missing")
    if err["type"] == "extra_forbidden":
        return redact(f"{field}: unknown field (put extra data under metadata)")
    problem = redact(f"{field}: {err['msg'].removeprefix('Value error, ')}"[:1200])  # redacted, then cut (as `_shown`)
    return f"{problem if len(problem) <= 300 else problem[:297] + '...'} (got {_shown(err.get('input'), 60)})"


def _shown(value: Any, width: int) -> str:
    """The bad value, short and redacted: error messages reach dead letters, logs and the terminal."""
    try:
        text = repr(value)[: width * 4]  # redact before cutting, so a cut cannot split a card number out of view
    except Exception:  # noqa: BLE001 - a long integer or a deep structure cannot be printed
        return f"<{type(value).__name__}>"
    text = redact(text)
    return text if len(text) <= width else text[: width - 3] + "..."
