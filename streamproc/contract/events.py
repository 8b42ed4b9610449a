"""Wire schemas of the project's own topics (msgspec JSON): object events, row events and dead letters."""

from __future__ import annotations

import types
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import msgspec

SCHEMA_VERSION = 1
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# A time with its UTC offset: a naive one cannot be ordered against the others (the bridge refuses it).
AwareTime = Annotated[datetime, msgspec.Meta(tz=True)]


class ObjectEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One S3 object version to ingest; topic `ingest.objects`, key `bucket/key`.

    Forward compatible: fields are only ever added, optional; a field this version does not know is ignored,
    and an event whose `schema_version` is newer than SCHEMA_VERSION is not processed by this worker at all
    (it waits for an upgrade: see ingest.fanout), since a newer field may change what the event means."""

    schema_version: int = SCHEMA_VERSION
    bucket: str
    key: str  # decoded (unquote_plus), exactly as stored in S3
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    event_name: str
    event_time: AwareTime
    forced: bool = False  # set by `reprocess`: run again even if this version already finished

    @property
    def message_key(self) -> str:
        return f"{self.bucket}/{self.key}"

    @property
    def version(self) -> str:
        """What identifies this object version: the S3 version id, else the ETag."""
        return self.version_id or self.etag or ""


class FieldError(msgspec.Struct, frozen=True, kw_only=True):
    """One broken rule: which field, which rule, in words."""

    field: str
    rule: str
    message: str


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """What failed, where, why, and the raw input with PHI masked; topic `ingest.deadletter`. Forward compatible
    as ObjectEvent: a field added by a newer writer is ignored by an older reader, never a reason to drop it."""

    schema_version: int = SCHEMA_VERSION
    stage: str  # "bridge", "split" or "sink"
    reason: str
    error_class: str
    retriable: bool
    occurred_at: datetime
    dataset: str | None = None
    bucket: str | None = None
    key: str | None = None
    version: str | None = None
    line: int | None = None
    errors: tuple[FieldError, ...] = ()
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    raw: str | None = None  # PHI-bearing fields already masked
    source_queue: str | None = None  # stage "bridge": the SQS queue the message came from
    source_message_id: str | None = None  # stage "bridge": the SQS message id

    @property
    def message_key(self) -> str:
        """Kafka key: the source object if known, else the source topic position (or SQS message)."""
        if self.bucket is not None and self.key is not None:
            return f"{self.bucket}/{self.key}"
        if self.source_topic is None and self.source_message_id is not None:
            return f"{self.source_queue}/{self.source_message_id}"
        return f"{self.source_topic}/{self.source_partition}/{self.source_offset}"


class Provenance(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where a row came from: the object version, the line its record starts on, when S3 saw the object."""

    bucket: str
    key: str
    version: str  # S3 version id, else the ETag
    line: Annotated[int, msgspec.Meta(ge=1)]
    event_time: AwareTime
    sequencer: str | None = None  # S3's order of two events on one key (hex; compared left-padded): ties of time


class ProvenanceText(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """Provenance as a sink reads it: the event time stays text (PostgreSQL parses it; no datetime per row)."""

    bucket: str
    key: str
    version: str
    line: int
    event_time: str
    sequencer: str | None = None


RowT = TypeVar("RowT", bound=msgspec.Struct)


class RowEvent(msgspec.Struct, Generic[RowT], frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One validated row with its provenance; topic = the dataset's topic, key = the row's natural key."""

    schema_version: int = SCHEMA_VERSION
    dataset: str
    provenance: Provenance
    row: RowT


def event_envelope(dataset: str, provenance: Provenance) -> tuple[bytes, bytes]:
    """(head, middle) with `head + b"%d" % line + middle + row_json + b"}"` == the RowEvent's JSON for that line.

    The fan-out encodes each row once (its row JSON) and wraps it per line, instead of encoding a whole
    event per row; msgspec writes struct fields in order, so the bytes are the same.
    """
    marker = 987_654_321
    template = ENCODER.encode(
        RowEvent(dataset=dataset, provenance=msgspec.structs.replace(provenance, line=marker), row=msgspec.Raw(b"0"))
    )
    head, found, rest = template.partition(b'"line":%d' % marker)
    middle, _, end = rest.rpartition(b'"row":0')
    if not found or end != b"}":
        msg = f"unexpected RowEvent layout: {template!r}"
        raise RuntimeError(msg)
    return head + b'"line":', middle + b'"row":'


def row_event_type(row_type: type[msgspec.Struct]) -> Any:
    """RowEvent[row_type] for a row type known only at run time (what decoders and schemas take)."""
    return types.GenericAlias(RowEvent, (row_type,))


def text_event_type(name: str, row_text_type: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """A row event as a sink reads it: same JSON, decoded without parsing decimals, dates or times."""
    return msgspec.defstruct(
        f"{name}EventText",
        [("schema_version", int), ("dataset", str), ("provenance", ProvenanceText), ("row", row_text_type)],
        frozen=True,
        forbid_unknown_fields=True,
        gc=False,
    )


class Written(msgspec.Struct, frozen=True):
    """Only which schema version wrote an event: read before the event itself."""

    schema_version: int = 1


ENCODER = msgspec.json.Encoder()
WRITTEN_DECODER = msgspec.json.Decoder(Written)
OBJECT_EVENT_DECODER = msgspec.json.Decoder(ObjectEvent)
DEAD_LETTER_DECODER = msgspec.json.Decoder(DeadLetter)
