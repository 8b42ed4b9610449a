"""Pure decoding of S3 notifications (plain or SNS-wrapped) into object events, and the relay's dead letters."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import unquote_plus

import msgspec

from streamproc.contract import deadletters
from streamproc.contract.events import DeadLetter, ObjectEvent

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
        if not is_object_created(record.event_name):
            ignored.append(record.event_name)
            continue
        event = object_event(record)
        if isinstance(event, str):
            failures.append(Failure(reason=f"record {index}: {event}", error_class="InvalidRecord", raw=text))
        else:
            events.append(event)
    return DecodedBody(events=tuple(events), ignored=tuple(ignored), failures=tuple(failures))


def is_object_created(event_name: str) -> bool:
    """`ObjectCreated:Put` and friends; S3 omits the `s3:` prefix in records, configurations use it."""
    return event_name.removeprefix("s3:").startswith("ObjectCreated:")


def object_event(record: _S3Record) -> ObjectEvent | str:
    """The event for an ObjectCreated record, or why it cannot be one (the message is then dead-lettered).

    A time without a UTC offset is refused rather than guessed: S3 always sends `...Z`, so a naive time comes
    from something else, its zone is unknown, and the worker compares event times as aware datetimes."""
    obj = record.s3.obj
    if record.event_time.tzinfo is None or record.event_time.utcoffset() is None:
        return "eventTime has no UTC offset"
    if obj.size is not None and obj.size < 0:
        return f"size is negative ({obj.size})"
    try:  # S3 form-encodes keys in notifications: "+" is a space, "%2B" a plus; bad UTF-8 is not a key S3 sent
        key = unquote_plus(obj.key, errors="strict")
    except UnicodeDecodeError:
        return "key is not form-encoded UTF-8"
    if not key:
        return "key is empty"
    return ObjectEvent(
        bucket=record.s3.bucket.name,
        key=key,
        size=obj.size,
        etag=_text(obj.etag.strip('"') if obj.etag else None),  # S3's API quotes ETags, notifications do not
        version_id=_text(obj.version_id),
        sequencer=_text(obj.sequencer),
        event_name=record.event_name,
        event_time=record.event_time,
    )


def _text(value: str | None) -> str | None:
    """An absent or blank identifier is None, never "": the worker falls back (version id, else ETag) on None."""
    return value.strip() or None if value is not None else None


def bridge_dead_letter(failure: Failure, *, queue: str, message_id: str) -> DeadLetter:
    """The dead letter for a body (or record) the relay cannot turn into an object event: no body verbatim."""
    return deadletters.unparsed(
        stage="bridge",
        body=failure.raw,
        reason=failure.reason,
        error_class=failure.error_class,
        queue=(queue, message_id),
    )
