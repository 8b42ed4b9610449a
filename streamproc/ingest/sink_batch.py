"""What a sink batch is made of (pure): decoded records, the load batch (one row per key, lines per file version),
and the sink's counters."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from streamproc.contract.events import ProvenanceText
from streamproc.datasets.model import Dataset
from streamproc.ingest.ledger import LoadBatch, Version
from streamproc.shared.errors import TerminalError
from streamproc.shared.histogram import BATCH_ROWS_BUCKETS, WRITE_SECONDS_BUCKETS, Histogram
from streamproc.shared.logs import describe


class UnexpectedRowError(TerminalError):
    """A row made the sink raise what it does not know (a bug): dead-lettered under the original error class."""

    def __init__(self, message: str, cause: Exception) -> None:
        super().__init__(message)
        self.error_class = type(cause).__name__


@dataclass
class SinkStats:
    """Counters since start, and where the time goes (seconds, cumulative)."""

    batches: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    undecodable: int = 0
    commit_failures: int = 0
    write_retries: int = 0  # transient database errors, each followed by the same batch again
    unexpected_errors: int = 0  # batches that raised a bug's error: their rows were isolated, bad ones dead-lettered
    restarts: int = 0  # times the sink stopped on an error and was started again
    failing_since: float | None = None  # wall-clock time of the first failure since the last written batch
    last_error: str | None = None  # what that failure (or the latest one) was; never a row value
    last_batch_rows: int = 0
    last_batch_seconds: float = 0.0
    fetch_seconds: float = 0.0
    decode_seconds: float = 0.0
    write_wait_seconds: float = 0.0
    lag: dict[str, int] = field(default_factory=dict)
    batch_rows: Histogram = field(default_factory=lambda: Histogram(BATCH_ROWS_BUCKETS))
    write_seconds: Histogram = field(default_factory=lambda: Histogram(WRITE_SECONDS_BUCKETS))

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())

    def failed(self, exc: BaseException) -> None:
        """A write or a start failed: remember since when the sink has been failing, and why."""
        if self.failing_since is None:
            self.failing_since = time.time()
        self.last_error = describe(exc)

    def recovered(self) -> None:
        self.failing_since = None
        self.last_error = None


# One decoded record: (partition, offset, the row event read as text, its COPY values).
Decoded = tuple[int, int, Any, tuple[Any, ...]]


SEQUENCER_WIDTH = 64  # S3 sequencers differ in length: compared left-padded with zeros (as hex numbers)


def order_of(p: ProvenanceText) -> tuple[datetime, str, int, str, str]:
    """What `latest_wins` orders row versions by: S3 event time, its sequencer (two PUTs in one millisecond),
    line, key, version; the upsert orders the same way (adapters.sink_sql)."""
    sequencer = (p.sequencer or "").upper().rjust(SEQUENCER_WIDTH, "0")
    return (datetime.fromisoformat(p.event_time), sequencer, p.line, p.key, p.version)


def check_offset(event_time: str) -> None:
    """Raise msgspec.ValidationError unless `event_time` is an ISO time with a UTC offset."""
    try:
        aware = datetime.fromisoformat(event_time).tzinfo is not None
    except ValueError:
        aware = False
    if not aware:
        msg = "provenance.event_time is not a time with a UTC offset"
        raise msgspec.ValidationError(msg)


def _later(a: ProvenanceText, b: ProvenanceText) -> bool:
    """Whether provenance `a` comes after `b`."""
    return order_of(a) > order_of(b)


def load_batch(dataset: Dataset, topic: str, items: Sequence[Decoded]) -> LoadBatch:
    """The rows to upsert (one per natural key: the latest provenance, or the first for append-only) and every
    line per file version and partition, in offset order."""
    rows: dict[Any, tuple[ProvenanceText, tuple[Any, ...]]] = {}
    lines: dict[Version, dict[int, list[int]]] = {}
    latest = dataset.conflict == "latest_wins"
    key_index = dataset.column_names.index(dataset.natural_key)
    last: tuple[Version, dict[int, list[int]]] | None = None
    for partition, _offset, event, values in items:
        p = event.provenance
        key = values[key_index]
        held = rows.get(key)
        if held is None or (latest and _later(p, held[0])):
            rows[key] = (p, values)
        version = (p.bucket, p.key, p.version)
        if last is None or last[0] != version:
            last = (version, lines.setdefault(version, {}))
        last[1].setdefault(partition, []).append(p.line)
    return LoadBatch(topic=topic, rows=[values for _, values in rows.values()], lines=lines)
