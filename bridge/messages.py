"""Pure building of SQS DLQ messages from dead-letter records (attributes, limits, truncation, batches); encoding."""

from __future__ import annotations

import re
from collections.abc import Sequence

import msgspec

from streamproc.contract.events import ENCODER, DeadLetter, ObjectEvent
from streamproc.shared import phi


def truncate_utf8(text: str, limit: int, marker: str) -> str:
    """`text` cut so that it plus `marker` (with {kept} and {total} bytes) fits in `limit` UTF-8 bytes."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    room = len(marker.format(kept=len(data), total=len(data)).encode("utf-8"))
    head = data[: max(0, limit - room)].decode("utf-8", errors="ignore")
    return head + marker.format(kept=len(head.encode("utf-8")), total=len(data))


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
