"""Dead letters of every stage, built in one place: what failed, where, why, and the input with PHI masked.

The rules (pure code, no driver):
- a CSV row shows its fields, with PHI-bearing (and unknown) columns replaced by `***`;
- a row event's row shows its fields, with the dataset's PHI fields replaced by `***`;
- a body that could not be parsed at all (an SQS message, an object event, a row event) is never
  carried verbatim: only its length, a SHA-256 digest and a short prefix with every letter and digit masked;
- `raw` stays under RAW_LIMIT characters; reasons name fields and rules, never values.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from streamproc.events import ENCODER, DeadLetter, FieldError, Provenance

MASK = "***"
RAW_LIMIT = 16_384  # characters of a raw row kept in a dead letter
UNMAPPED_ROW = "*** row withheld: its fields could not be mapped to the header ***"
PREFIX_CHARS = 64  # how much of an unparsed body's shape a dead letter shows
_LETTERS_AND_DIGITS = re.compile(r"[^\W_]", re.UNICODE)


def now() -> datetime:
    return datetime.now(UTC)


def cut(raw: str, limit: int = RAW_LIMIT) -> str:
    """`raw` cut to `limit` characters, saying how much was dropped."""
    if len(raw) <= limit:
        return raw
    return f"{raw[:limit]}... [{len(raw) - limit} more characters]"


def masked_csv(fields: Iterable[str], masked: Collection[int]) -> str:
    """A CSV record re-serialised with the fields at `masked` positions replaced by ***, cut at RAW_LIMIT."""
    buffer = io.StringIO()
    # The writer quotes only what holds its delimiter, quote or line terminator: so "\n", then drop it.
    csv.writer(buffer, lineterminator="\n").writerow(MASK if i in masked else v for i, v in enumerate(fields))
    raw = cut(buffer.getvalue()[:-1])
    return raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")  # undecodable bytes as U+FFFD


def masked_row(row: Mapping[str, Any], phi_fields: Collection[str]) -> dict[str, Any]:
    """A decoded row with its PHI fields replaced by *** (None stays None: absence is not PHI)."""
    return {k: (MASK if k in phi_fields and v is not None else v) for k, v in row.items()}


def fingerprint(body: bytes | str) -> str:
    """What a dead letter says of a body it cannot parse: length, digest and a masked prefix, never the body."""
    data = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body
    text = data[: PREFIX_CHARS * 4].decode("utf-8", "replace")[:PREFIX_CHARS]
    shape = _LETTERS_AND_DIGITS.sub("x", text)
    return f"unparsed body withheld: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}, shape {shape!r}"


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
) -> DeadLetter:
    """A valid row the database refused (a value out of the table's range): the masked row and the SQLSTATE."""
    topic, partition, offset = source
    return DeadLetter(
        stage="sink",
        reason=f"rejected by the database (SQLSTATE {sqlstate or 'unknown'})",
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
