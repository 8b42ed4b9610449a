"""Wire schemas of the project's own topics (msgspec JSON): object events and dead letters."""

from __future__ import annotations

from datetime import datetime

import msgspec

SCHEMA_VERSION = 1


class ObjectEvent(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One S3 object version to ingest; topic `ingest.objects`, key `bucket/key`."""

    schema_version: int = SCHEMA_VERSION
    bucket: str
    key: str  # decoded (unquote_plus), exactly as stored in S3
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    event_name: str
    event_time: datetime

    @property
    def message_key(self) -> str:
        return f"{self.bucket}/{self.key}"

    @property
    def version(self) -> str:
        """What identifies this object version: the S3 version id, else the ETag."""
        return self.version_id or self.etag or ""


class FieldError(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One broken rule: which field, which rule, in words."""

    field: str
    rule: str
    message: str


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What failed, where, why, and the raw input with PHI masked; topic `ingest.deadletter`."""

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

    @property
    def message_key(self) -> str:
        """Kafka key: the source object if known, else the source topic position."""
        if self.bucket is not None and self.key is not None:
            return f"{self.bucket}/{self.key}"
        return f"{self.source_topic}/{self.source_partition}/{self.source_offset}"


ENCODER = msgspec.json.Encoder()
OBJECT_EVENT_DECODER = msgspec.json.Decoder(ObjectEvent)
DEAD_LETTER_DECODER = msgspec.json.Decoder(DeadLetter)
