"""Dead letters of every stage, built in one place: what failed, where, why, and the input with PHI masked.

The rules (pure code, no driver):
- a CSV row shows its fields, with PHI-bearing (and unknown) columns replaced by `***`;
- a row event's row shows its fields, with the dataset's PHI fields replaced by `***`;
- a body that could not be parsed at all (an SQS message, an object event, a row event) is never
  carried verbatim: only its length, a SHA-256 digest and a short prefix with every letter and digit masked;
- `raw` stays under RAW_LIMIT characters; reasons name fields and rules, never values.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from streamproc.contract.events import ENCODER, DeadLetter, FieldError, Provenance
from streamproc.shared.phi import cut, fingerprint, masked_row


def now() -> datetime:
    return datetime.now(UTC)


def row_rejected(
    *,
    dataset: str,
    bucket: str,
    key: str,
    version: str,
    line: int,
    errors: tuple[FieldError, ...],
    error_class: str,
    raw_masked: str,
) -> DeadLetter:
    """A CSV row that broke rules of the data contract (stage split)."""
    return DeadLetter(
        stage="split",
        reason="row failed validation: " + "; ".join(f"{e.field}: {e.rule}" for e in errors),
        error_class=error_class,
        retriable=False,
        occurred_at=now(),
        dataset=dataset,
        bucket=bucket,
        key=key,
        version=version,
        line=line,
        errors=errors,
        raw=raw_masked,
    )


def file_failed(
    *, bucket: str, key: str, version: str, dataset: str | None, reason: str, error_class: str
) -> DeadLetter:
    """A whole object refused (unreadable, unrecognised, missing columns) or failed unexpectedly."""
    return DeadLetter(
        stage="split",
        reason=reason,
        error_class=error_class,
        retriable=False,
        occurred_at=now(),
        dataset=dataset,
        bucket=bucket,
        key=key,
        version=version,
    )


def unparsed(
    *,
    stage: str,
    body: bytes | str,
    reason: str,
    error_class: str,
    dataset: str | None = None,
    source: tuple[str, int, int] | None = None,
    queue: tuple[str, str] | None = None,
) -> DeadLetter:
    """A message that could not be decoded: from a topic (`source`: topic, partition, offset) or SQS (`queue`)."""
    topic, partition, offset = source if source is not None else (None, None, None)
    source_queue, message_id = queue if queue is not None else (None, None)
    return DeadLetter(
        stage=stage,
        reason=reason,
        error_class=error_class,
        retriable=False,
        occurred_at=now(),
        dataset=dataset,
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        raw=fingerprint(body),
        source_queue=source_queue,
        source_message_id=message_id,
    )


def sink_rejected(
    *,
    dataset: str,
    provenance: Provenance,
    row: Mapping[str, Any],
    phi_fields: Collection[str],
    error_class: str,
    sqlstate: str | None,
    source: tuple[str, int, int],
    reason: str | None = None,
) -> DeadLetter:
    """A valid row the database refused (a value out of the table's range), or one the sink failed on: the
    masked row and the SQLSTATE or the reason."""
    topic, partition, offset = source
    return DeadLetter(
        stage="sink",
        reason=reason or f"rejected by the database (SQLSTATE {sqlstate or 'unknown'})",
        error_class=error_class,
        retriable=False,
        occurred_at=now(),
        dataset=dataset,
        bucket=provenance.bucket,
        key=provenance.key,
        version=provenance.version,
        line=provenance.line,
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        raw=cut(ENCODER.encode(masked_row(row, phi_fields)).decode()),
    )
