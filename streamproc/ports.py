"""What the worker's stages need from outside: Protocols the adapters satisfy and unit tests fake (pure)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Protocol

from streamproc.datasets import Dataset
from streamproc.events import ObjectEvent
from streamproc.ledger import Claim, LoadBatch, Reject, RowRef, SplitCounts
from streamproc.shared.delivery import Delivery

TopicPart = tuple[str, int]


class ObjectStore(Protocol):
    """Reads one object version as a stream of byte chunks (adapters.s3.S3Reader)."""

    def chunks(self, bucket: str, key: str, version_id: str | None) -> AsyncIterator[bytes]: ...


class FileLedger(Protocol):
    """The fan-out's side of the file ledger (adapters.postgres.Database)."""

    async def claim(self, event: ObjectEvent) -> Claim: ...
    async def record_rejects(self, file_id: int, rejects: Sequence[Reject]) -> None: ...
    async def finish_split(self, file_id: int, counts: SplitCounts) -> str: ...
    async def fail_file(self, file_id: int, reason: str, counts: SplitCounts) -> None: ...


class SinkStore(Protocol):
    """The sink's side of PostgreSQL: one idempotent batch write, and rows the database refused."""

    async def write_batch(self, dataset: Dataset, batch: LoadBatch) -> None: ...
    async def record_rejected(self, dataset: Dataset, topic: str, refs: Sequence[RowRef]) -> None: ...


class RecordProducer(Protocol):
    """Hands records to Kafka without waiting for acks (shared.kafka.Producer)."""

    @property
    def ack_timeout(self) -> float: ...

    async def send(self, topic: str, items: Iterable[tuple[bytes, bytes]]) -> Delivery: ...


class ConsumedRecord(Protocol):
    """One record read from a topic."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...


class RecordSource(Protocol):
    """A group member reading a topic with manual commits (shared.kafka.BatchConsumer)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def fetch(self, timeout_ms: int, max_records: int | None = None) -> Sequence[ConsumedRecord]: ...
    async def commit(self, offsets: Mapping[TopicPart, int]) -> None: ...
    def assignment(self) -> set[TopicPart]: ...
    def highwater(self, where: TopicPart) -> int | None: ...
