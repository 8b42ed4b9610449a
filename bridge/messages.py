"""Pure decoding of S3 notifications (plain or SNS-wrapped) and building of bridge dead letters."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import unquote_plus

import msgspec

from streamproc.contract import deadletters
from streamproc.contract.events import ENCODER, DeadLetter, ObjectEvent
from streamproc.shared import phi

TEST_EVENT = "s3:TestEvent"


class _S3Bucket(msgspec.Struct, frozen=True, kw_only=True):
    name: str


class _S3Object(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    size: int | None = None
    etag: str | None = msgspec.field(default=None, name="eTag")
    version_id: str | None = msgspec.field(default=None, name="versionId")
    sequencer: str | None = None


class _S3Entity(msgspec.Struct, frozen=True, kw_only=True):
    bucket: _S3Bucket
    obj: _S3Object = msgspec.field(name="object")


class _S3Record(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of `Records`; AWS payloads are decoded leniently (unknown fields ignored)."""

    event_name: str = msgspec.field(name="eventName")
    event_time: datetime = msgspec.field(name="eventTime")
    s3: _S3Entity


class _Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """Whatever can arrive on the queue: S3 records, an S3 test event, or an SNS envelope around either."""

    records: list[msgspec.Raw] | None = msgspec.field(default=None, name="Records")
    event: str | None = msgspec.field(default=None, name="Event")
    type: str | None = msgspec.field(default=None, name="Type")
    message: str | None = msgspec.field(default=None, name="Message")


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_RECORD = msgspec.json.Decoder(_S3Record)


class Failure(msgspec.Struct, frozen=True, kw_only=True):
    """Part of a message that could not be decoded: why, and the raw text (never put in a dead letter as is)."""

    reason: str
    error_class: str
    raw: str


class DecodedBody(msgspec.Struct, frozen=True, kw_only=True):
    """What one SQS message body holds. Never raised: garbage becomes `failures`."""

    events: tuple[ObjectEvent, ...] = ()
    ignored: tuple[str, ...] = ()  # event names of records that are not object creations
    test_event: bool = False
    failures: tuple[Failure, ...] = ()


def decode_body(body: str) -> DecodedBody:
    """Decode an SQS message body: S3 notification, s3:TestEvent, or an SNS Notification wrapping one."""
    envelope = _decode_envelope(body)
    if isinstance(envelope, Failure):
        return DecodedBody(failures=(envelope,))
    if envelope.type == "Notification" and envelope.message is not None and envelope.records is None:
        inner = _decode_envelope(envelope.message)
        if isinstance(inner, Failure):
            return DecodedBody(
                failures=(Failure(reason=f"SNS message: {inner.reason}", error_class=inner.error_class, raw=body),)
            )
        envelope = inner
    if envelope.records is not None:
        return _decode_records(envelope.records)
    if envelope.event == TEST_EVENT:
        return DecodedBody(test_event=True)
    reason = "not an S3 event notification: no Records and no s3:TestEvent"
    return DecodedBody(failures=(Failure(reason=reason, error_class="NotANotification", raw=body),))


def _decode_envelope(text: str) -> _Envelope | Failure:
    try:
        return _ENVELOPE.decode(text)
    except (msgspec.DecodeError, RecursionError) as exc:  # ValidationError is a DecodeError; deep nesting recurses
        return Failure(reason=f"undecodable body: {exc}", error_class=type(exc).__name__, raw=text)


def _decode_records(raws: list[msgspec.Raw]) -> DecodedBody:
    events: list[ObjectEvent] = []
    ignored: list[str] = []
    failures: list[Failure] = []
    for index, raw in enumerate(raws):
        text = bytes(raw).decode("utf-8", errors="replace")
        try:
            record = _RECORD.decode(raw)
        except (msgspec.DecodeError, RecursionError) as exc:
            failures.append(Failure(reason=f"record {index}: {exc}", error_class=type(exc).__name__, raw=text))
            continue
        if is_object_created(record.event_name):
            events.append(object_event(record))
        else:
            ignored.append(record.event_name)
    return DecodedBody(events=tuple(events), ignored=tuple(ignored), failures=tuple(failures))


def is_object_created(event_name: str) -> bool:
    """`ObjectCreated:Put` and friends; S3 omits the `s3:` prefix in records, configurations use it."""
    return event_name.removeprefix("s3:").startswith("ObjectCreated:")


def object_event(record: _S3Record) -> ObjectEvent:
    obj = record.s3.obj
    return ObjectEvent(
        bucket=record.s3.bucket.name,
        key=unquote_plus(obj.key),  # S3 form-encodes keys in notifications: "+" is a space, "%2B" a plus
        size=obj.size,
        etag=obj.etag,
        version_id=obj.version_id,
        sequencer=obj.sequencer,
        event_name=record.event_name,
        event_time=record.event_time,
    )


def truncate_utf8(text: str, limit: int, marker: str) -> str:
    """`text` cut so that it plus `marker` (with {kept} and {total} bytes) fits in `limit` UTF-8 bytes."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    room = len(marker.format(kept=len(data), total=len(data)).encode("utf-8"))
    head = data[: max(0, limit - room)].decode("utf-8", errors="ignore")
    return head + marker.format(kept=len(head.encode("utf-8")), total=len(data))


def bridge_dead_letter(failure: Failure, *, queue: str, message_id: str) -> DeadLetter:
    """The dead letter for a body (or record) the relay cannot turn into an object event: no body verbatim."""
    return deadletters.unparsed(
        stage="bridge",
        body=failure.raw,
        reason=failure.reason,
        error_class=failure.error_class,
        queue=(queue, message_id),
    )


def encode(item: ObjectEvent | DeadLetter) -> bytes:
    return ENCODER.encode(item)


# --- DLQ mirror: one SQS message per dead-letter record -------------------------------------------

SQS_MAX_BYTES = 256 * 1024  # body + attribute names, types and values; also the cap of one batch
SQS_MAX_BATCH = 10
SQS_MAX_ATTRIBUTES = 10
ATTRIBUTE_LIMIT = 1024  # bytes per attribute value: a reason is a sentence, not a payload
TRUNCATED = "...[truncated by bridge: {kept} of {total} bytes kept]"
# Characters SQS refuses in bodies and attribute values (XML 1.0 minus a few); replaced, never dropped.
_NOT_SQS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _DeadLetterView(msgspec.Struct, frozen=True, kw_only=True):
    """The fields of a dead letter the mirror puts in attributes; lenient so a newer schema still mirrors."""

    stage: str | None = None
    reason: str | None = None
    error_class: str | None = None
    retriable: bool | None = None
    dataset: str | None = None
    bucket: str | None = None
    key: str | None = None
    line: int | None = None
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    source_queue: str | None = None
    source_message_id: str | None = None


_VIEW = msgspec.json.Decoder(_DeadLetterView)


class DlqMessage(msgspec.Struct, frozen=True, kw_only=True):
    """Body and MessageAttributes (SQS request shape) of one message for the SQS DLQ."""

    body: str
    attributes: dict[str, dict[str, str]]
    truncated: bool = False

    @property
    def size(self) -> int:
        """Bytes SQS counts against its limit."""
        return len(self.body.encode("utf-8")) + _attributes_size(self.attributes)


def dlq_message(value: bytes | None, *, topic: str, partition: int, offset: int) -> DlqMessage:
    """The SQS DLQ message for the dead-letter record at topic/partition/offset; never fails."""
    try:
        view = _VIEW.decode(value or b"")
        text = (value or b"").decode("utf-8", errors="replace")
    except (msgspec.DecodeError, RecursionError) as exc:
        text = phi.fingerprint(value) if value else ""
        view = _DeadLetterView(
            stage="dlq-mirror",
            reason=f"dead-letter record is not a dead letter: {exc}",
            error_class=type(exc).__name__,
            retriable=False,
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
        )
    attributes = _attributes(view)
    text = _NOT_SQS.sub("\ufffd", text) or "(empty dead-letter record)"
    body = truncate_utf8(text, SQS_MAX_BYTES - _attributes_size(attributes), TRUNCATED)
    return DlqMessage(body=body, attributes=attributes, truncated=body is not text)


def dlq_stand_in(message: DlqMessage, *, topic: str, partition: int, offset: int, refusal: str) -> DlqMessage:
    """A small message standing in for one SQS refuses for good: where the dead letter stays, and why.

    The dead letter itself is still on the Kafka topic (for its retention); the stand-in keeps the SQS DLQ
    complete as an index of what went wrong. It carries no field of the original beyond its coordinates.
    """
    reason = f"SQS refused this dead letter ({refusal}); it stays on {topic} partition {partition} offset {offset}"
    view = _DeadLetterView(
        stage="dlq-mirror",
        reason=reason,
        error_class="DlqRefused",
        retriable=False,
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
    )
    fields = {"stand_in": True, "original_bytes": message.size} | msgspec.structs.asdict(view)
    body = msgspec.json.encode({k: v for k, v in fields.items() if v is not None}).decode()
    return DlqMessage(body=body, attributes=_attributes(view))


def _attributes(view: _DeadLetterView) -> dict[str, dict[str, str]]:
    retriable = None if view.retriable is None else str(view.retriable).lower()
    candidates: list[tuple[str, str, object]] = [
        ("reason", "String", view.reason),
        ("error_class", "String", view.error_class),
        ("retriable", "String", retriable),
        ("dataset", "String", view.dataset),
        ("bucket", "String", view.bucket),
        ("key", "String", view.key),
        ("line", "Number", view.line),
        ("topic", "String", view.source_topic),
        ("partition", "Number", view.source_partition),
        ("offset", "Number", view.source_offset),
        # Filled only while SQS's limit of 10 attributes leaves room; the body always has them.
        ("stage", "String", view.stage),
        ("queue", "String", view.source_queue),
        ("message_id", "String", view.source_message_id),
    ]
    attributes: dict[str, dict[str, str]] = {}
    for name, kind, raw in candidates:
        text = "" if raw is None else _NOT_SQS.sub("\ufffd", str(raw))
        if text and len(attributes) < SQS_MAX_ATTRIBUTES:  # SQS refuses empty attribute values
            value = truncate_utf8(text, ATTRIBUTE_LIMIT, "...[{kept} of {total} bytes]")
            attributes[name] = {"DataType": kind, "StringValue": value}
    return attributes


def _attributes_size(attributes: dict[str, dict[str, str]]) -> int:
    return sum(
        len(name.encode()) + len(spec["DataType"].encode()) + len(spec["StringValue"].encode("utf-8"))
        for name, spec in attributes.items()
    )


def batches(sizes: Sequence[int]) -> list[list[int]]:
    """Indexes grouped in order into SQS batches: at most 10 entries and SQS_MAX_BYTES in all."""
    groups: list[list[int]] = []
    total = 0
    for index, size in enumerate(sizes):
        if not groups or len(groups[-1]) == SQS_MAX_BATCH or total + size > SQS_MAX_BYTES:
            groups.append([])
            total = 0
        groups[-1].append(index)
        total += size
    return groups
