"""What one split of one object needs from its worker, handed over explicitly: the adapters, the policy and the
counters (the fan-out builds one `SplitContext`; each `Split` and its frontier read through it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from streamproc.datasets.registry import Registry
from streamproc.ingest.deadletter_writer import DeadLetterWriter
from streamproc.ingest.ports import FileLedger, ObjectStore, RecordProducer, TopicSource
from streamproc.ingest.rejections import Limits
from streamproc.shared.faults import Faults
from streamproc.shared.retry import Backoff, retry_transient

T = TypeVar("T")


@dataclass
class FanOutStats:
    """Counters since start (read by the stats page and the metrics)."""

    files: int = 0
    files_failed: int = 0
    rows_emitted: int = 0
    rows_rejected: int = 0
    dead_letters: int = 0
    bytes_read: int = 0
    stream_retries: int = 0
    duplicates: int = 0  # events for a version already processed: recorded and skipped
    newer_events: Position | None = None  # an object event a newer version wrote, held until an upgrade
    claims_lost: int = 0  # splits stopped because another worker took their claim over (this one was paused)
    by_status: dict[str, int] = field(default_factory=dict)
    rows_by_dataset: dict[str, int] = field(default_factory=dict)  # row events produced to each dataset's topic
    rejected_by_dataset: dict[str, int] = field(default_factory=dict)  # rows dead-lettered by validation

    def finished(self, status: str) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1

    def emitted(self, dataset: str, rows: int, rejected: int) -> None:
        self.rows_by_dataset[dataset] = self.rows_by_dataset.get(dataset, 0) + rows
        self.rejected_by_dataset[dataset] = self.rejected_by_dataset.get(dataset, 0) + rejected


@dataclass(frozen=True)
class Position:
    """Where an object event was read: for dead letters of undecodable events."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, kw_only=True)
class SplitPolicy:
    """How files are split: acks awaited every `window` records, who this worker is in the ledger's claims,
    how long a claim outlives its worker's last heartbeat, what one file may cost, and test-only fault points."""

    window: int = 20_000
    backoff_cap: float = 30.0
    owner: str = "worker"
    lease: float = 15.0
    limits: Limits = field(default_factory=Limits)
    faults: Faults = field(default_factory=Faults)
    spool_dir: Path | None = None  # where files with controls are kept while evaluated (None: the temp dir)
    spool_bytes: int = 32 << 30  # the most one file's spooled records may take on disk
    manifest_wait: float = 3600.0  # seconds a file whose dataset requires a manifest waits for it, then HELD
    objects_topic: str = "ingest.objects"  # where a file's event is handed again when its manifest arrives


@dataclass(frozen=True, kw_only=True)
class SplitContext:
    """The fan-out's adapters, policy and counters, as every split of this worker sees them."""

    registry: Registry
    ledger: FileLedger
    store: ObjectStore
    producer: RecordProducer
    reader: TopicSource
    letters: DeadLetterWriter
    policy: SplitPolicy
    stats: FanOutStats = field(default_factory=FanOutStats)

    def backoff(self) -> Backoff:
        return Backoff(0.2, self.policy.backoff_cap)

    async def retry(self, op: Callable[[], Awaitable[T]], what: str) -> T:
        return await retry_transient(op, what=what, backoff=self.backoff())

    async def end_offsets(self, topic: str) -> dict[int, int]:
        """The next offset of each partition of `topic`, retried while Kafka is away."""
        return await self.retry(lambda: self.reader.end_offsets(topic), f"end offsets of {topic}")
