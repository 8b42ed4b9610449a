"""What the worker's stages need from outside: Protocols the adapters satisfy and unit tests fake (pure)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Protocol

from streamproc.contract.events import ObjectEvent
from streamproc.datasets.model import Dataset
from streamproc.ingest.ledger import (
    FAILED,
    HELD,
    Checkpoint,
    Claim,
    Fence,
    Held,
    Judgement,
    LoadBatch,
    Reject,
    RowRef,
    SplitCounts,
)
from streamproc.shared.delivery import Delivery
from streamproc.shared.errors import TerminalError
from streamproc.shared.records import ConsumedRecord, TopicPart


class ObjectSuperseded(TerminalError):
    """The key now holds other bytes than the notified version (an unversioned bucket overwritten since): that
    version is gone, so its file ends SUPERSEDED, and the newer version's own notification loads the key."""


class ObjectStore(Protocol):
    """Reads one object version as a stream of byte chunks (adapters.s3.S3Reader), pinned to that version by
    its id or else its ETag: raises ObjectSuperseded when the key holds other bytes now."""

    def chunks(self, bucket: str, key: str, version_id: str | None, etag: str | None) -> AsyncIterator[bytes]: ...
    async def small(self, bucket: str, key: str) -> bytes | None:
        """A small object's current bytes (a manifest; at most MAX_MANIFEST_BYTES + 1 read), None if there is none."""
        ...


class FileLedger(Protocol):
    """The fan-out's side of the file ledger (adapters.ledger_store.LedgerStore). Every write after the claim
    names the claim's Fence and raises ledger.ClaimLost once another claim has replaced it."""

    async def claim(self, event: ObjectEvent, owner: str, lease: float) -> Claim: ...
    async def checkpoint(self, fence: Fence, at: Checkpoint) -> None: ...
    async def heartbeat(self, fence: Fence) -> None: ...
    async def release(self, fence: Fence) -> None: ...
    async def record_rejects(self, fence: Fence, rejects: Sequence[Reject]) -> None: ...
    async def finish_split(self, fence: Fence, counts: SplitCounts) -> str: ...
    async def fail_file(self, fence: Fence, reason: str, counts: SplitCounts, status: str = FAILED) -> None: ...
    async def hold_file(self, fence: Fence, held: Held, counts: SplitCounts, status: str = HELD) -> None: ...
    async def judge(self, fence: Fence, verdict: Judgement) -> str | None: ...


class ManifestLedger(Protocol):
    """Manifests in the ledger (adapters.manifest_store.ManifestStore): which files await one, which are overdue."""

    async def arrived(self, bucket: str, key: str, data_key: str, etag: str | None) -> list[Mapping[str, Any]]:
        """Record a manifest; the ledger rows of the files under `data_key` awaiting it."""
        ...

    async def overdue(self, wait: float) -> list[Mapping[str, Any]]:
        """Files that have awaited their manifest for `wait` s (each returned at most once per `wait` s)."""
        ...

    async def orphans(self, wait: float) -> list[Mapping[str, Any]]:
        """Manifests `wait` s old whose data file never came (each returned once)."""
        ...


class SinkStore(Protocol):
    """The sink's side of PostgreSQL: one idempotent batch write, and rows the database refused."""

    async def write_batch(self, dataset: Dataset, batch: LoadBatch) -> None: ...
    async def record_rejected(self, dataset: Dataset, topic: str, refs: Sequence[RowRef]) -> None: ...


class TopicSource(Protocol):
    """Reads a topic without a group (kafka.reader.TopicReader): what a resumed split already produced."""

    async def end_offsets(self, topic: str) -> dict[int, int]: ...
    def read(
        self, topic: str, since: Mapping[int, int], until: Mapping[int, int]
    ) -> AsyncIterator[list[tuple[int, int, bytes]]]: ...


class RecordProducer(Protocol):
    """Hands records to Kafka without waiting for acks (kafka.producer.Producer)."""

    @property
    def ack_timeout(self) -> float: ...

    async def send(self, topic: str, items: Iterable[tuple[bytes, bytes]]) -> Delivery: ...


class RecordSource(Protocol):
    """A group member reading a topic with manual commits (kafka.consumer.BatchConsumer)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def fetch(self, timeout_ms: int, max_records: int | None = None) -> Sequence[ConsumedRecord]: ...
    async def commit(self, offsets: Mapping[TopicPart, int]) -> None: ...
    def assignment(self) -> set[TopicPart]: ...
    def highwater(self, where: TopicPart) -> int | None: ...
