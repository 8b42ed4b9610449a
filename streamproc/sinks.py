"""Sink consumers: one bulk aiokafka consumer per dataset topic, living in the Faust worker.

Batches are bounded by size and time, written with one idempotent COPY-based upsert, and their
offsets committed only after the database committed. A batch the database rejects is split until
the bad rows are isolated and dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from streamproc.adapters.postgres import Database, RejectedByDatabase, RowRef
from streamproc.datasets import Dataset
from streamproc.events import ENCODER, DeadLetter, RowEvent
from streamproc.fanout import Producer
from streamproc.retry import retry_transient
from streamproc.settings import KafkaConnection

logger = logging.getLogger(__name__)


@dataclass
class SinkStats:
    batches: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    undecodable: int = 0
    commit_failures: int = 0
    last_batch_rows: int = 0
    last_batch_seconds: float = 0.0
    # Where the time goes (seconds, cumulative): fetching, decoding, waiting for the previous write.
    fetch_seconds: float = 0.0
    decode_seconds: float = 0.0
    write_wait_seconds: float = 0.0
    lag: dict[str, int] = field(default_factory=dict)

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())


@dataclass(frozen=True)
class _Item:
    topic: str
    partition: int
    offset: int
    event: RowEvent[Any]
    values: tuple[Any, ...]


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no type information
    def __init__(self, sink: SinkConsumer) -> None:
        self.sink = sink

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Offsets are committed right after each batch's DB commit; an uncommitted batch comes again
        # to the partition's next owner, and the idempotent upsert makes that harmless.
        logger.info("sink %s: partitions revoked %s", self.sink.dataset.name, sorted(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        logger.info("sink %s: partitions assigned %s", self.sink.dataset.name, sorted(tp.partition for tp in assigned))


class SinkConsumer:
    """Consumes one dataset topic in batches and writes them to PostgreSQL; never loses a row."""

    def __init__(
        self,
        *,
        dataset: Dataset,
        group_id: str,
        kafka: KafkaConnection,
        db: Database,
        producer: Producer,
        deadletter_topic: str,
        batch_size: int,
        batch_seconds: float,
        backoff_cap: float = 30.0,
        shutdown_grace: float = 10.0,
    ) -> None:
        self.dataset = dataset
        self.group_id = group_id
        self.kafka = kafka
        self.db = db
        self.producer = producer
        self.deadletter_topic = deadletter_topic
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.backoff_cap = backoff_cap
        # On shutdown an in-flight write gets this long to commit; after that it is abandoned, uncommitted,
        # and its batch is read again by whoever owns the partitions next.
        self.shutdown_grace = shutdown_grace
        self.stats = SinkStats()
        self._written: dict[TopicPartition, int] = {}

    async def run(self, stopping: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.batch_size,
            fetch_max_bytes=64 << 20,
            max_partition_fetch_bytes=16 << 20,
            **self.kafka.client_kwargs(),
        )
        consumer.subscribe([self.dataset.topic], listener=_Rebalance(self))
        await consumer.start()
        writing: asyncio.Task[None] | None = None
        try:
            while not stopping.is_set():
                # Fetch and decode batch N+1 while the database writes batch N; commits stay in order
                # because batch N+1 is written only after batch N committed.
                t0 = time.monotonic()
                records = await self._collect(consumer, stopping)
                t1 = time.monotonic()
                items = await self._decode(records) if records else []
                t2 = time.monotonic()
                if writing is not None:
                    if not await _finished_unless_stopping(writing, stopping, grace=self.shutdown_grace):
                        break  # stopping while the database is away: the uncommitted batch is read again later
                    writing = None
                self.stats.fetch_seconds += t1 - t0
                self.stats.decode_seconds += t2 - t1
                self.stats.write_wait_seconds += time.monotonic() - t2
                if records:
                    writing = asyncio.create_task(self._flush(consumer, records, items))
                self._update_lag(consumer)
            else:
                if writing is not None:
                    await _finished_unless_stopping(writing, stopping, grace=self.shutdown_grace)
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
                await asyncio.gather(writing, return_exceptions=True)
            await consumer.stop()

    async def _collect(self, consumer: Any, stopping: asyncio.Event) -> list[Any]:
        records: list[Any] = []
        deadline = time.monotonic() + self.batch_seconds
        while len(records) < self.batch_size and not stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            got = await consumer.getmany(timeout_ms=int(left * 1000), max_records=self.batch_size - len(records))
            for batch in got.values():
                records.extend(batch)
            if not got and records:
                break
        return records

    async def _flush(self, consumer: Any, records: list[Any], items: list[_Item]) -> None:
        t0 = time.monotonic()
        await self._write(items)
        offsets: dict[TopicPartition, int] = {}
        for rec in records:
            tp = TopicPartition(rec.topic, rec.partition)
            offsets[tp] = max(offsets.get(tp, 0), rec.offset + 1)
        self._written.update(offsets)
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group rebalanced while we wrote: the batch will be delivered again, and re-writing it is harmless.
            self.stats.commit_failures += 1
            logger.warning(
                "sink %s: commit failed after a rebalance (%s); batch will be re-read", self.dataset.name, exc
            )
        self.stats.batches += 1
        self.stats.last_batch_rows = len(records)
        self.stats.last_batch_seconds = time.monotonic() - t0

    async def _decode(self, records: Sequence[Any]) -> list[_Item]:
        items = []
        for rec in records:
            try:
                event = self.dataset.event_decoder.decode(rec.value)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                self.stats.undecodable += 1
                letter = _letter(
                    reason=f"undecodable row event: {exc}",
                    error_class=type(exc).__name__,
                    dataset=self.dataset.name,
                    source_topic=rec.topic,
                    source_partition=rec.partition,
                    source_offset=rec.offset,
                )
                await self._dead_letter(letter)
                continue
            p = event.provenance
            values = (*self.dataset.row_values(event.row), p.bucket, p.key, p.version, p.line, p.event_time)
            items.append(_Item(rec.topic, rec.partition, rec.offset, event, values))
        return items

    async def _write(self, items: list[_Item]) -> None:
        if not items:
            return
        try:
            await retry_transient(
                lambda: self.db.write_batch(self.dataset, [i.values for i in items]),
                what=f"sink {self.dataset.name}",
                cap=self.backoff_cap,
            )
            self.stats.rows_written += len(items)
        except RejectedByDatabase as exc:
            if len(items) == 1:
                await self._reject(items[0], exc)
                return
            mid = len(items) // 2
            await self._write(items[:mid])
            await self._write(items[mid:])

    async def _reject(self, item: _Item, exc: RejectedByDatabase) -> None:
        p = item.event.provenance
        logger.warning(
            "sink %s: s3://%s/%s line %d rejected by the database", self.dataset.name, p.bucket, p.key, p.line
        )
        row = msgspec.to_builtins(item.event.row)
        masked = {k: ("***" if k in self.dataset.phi_fields and v is not None else v) for k, v in row.items()}
        letter = _letter(
            reason=f"rejected by the database: {exc}",
            error_class=type(exc).__name__,
            dataset=self.dataset.name,
            bucket=p.bucket,
            key=p.key,
            version=p.version,
            line=p.line,
            source_topic=item.topic,
            source_partition=item.partition,
            source_offset=item.offset,
            raw=ENCODER.encode(masked).decode(),
        )
        await self._dead_letter(letter)
        ref = RowRef(bucket=p.bucket, key=p.key, version=p.version, line=p.line)
        await retry_transient(lambda: self.db.record_rejected(self.dataset, [ref]), what="record rejected row")
        self.stats.rows_rejected += 1

    async def _dead_letter(self, letter: DeadLetter) -> None:
        async def send() -> None:
            sent = await self.producer.send(self.deadletter_topic, ENCODER.encode(letter), letter.message_key.encode())
            await self.producer.wait([sent])

        await retry_transient(send, what=f"sink {self.dataset.name} dead letter", cap=self.backoff_cap)

    def _update_lag(self, consumer: Any) -> None:
        """Lag per partition: the broker's high-water mark minus what this sink has written."""
        lag = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is not None:
                lag[f"{tp.topic}/{tp.partition}"] = max(0, high - self._written.get(tp, high))
        self.stats.lag = lag


async def _finished_unless_stopping(task: asyncio.Task[None], stopping: asyncio.Event, grace: float = 0.0) -> bool:
    """Wait for `task`; once `stopping` is set, wait at most `grace` more seconds. True if it finished."""
    stop_wait = asyncio.ensure_future(stopping.wait())
    try:
        done, _ = await asyncio.wait({task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done and grace > 0:
            done, _ = await asyncio.wait({task}, timeout=grace)
    finally:
        stop_wait.cancel()
    if task in done:
        task.result()  # re-raise what the write raised
        return True
    return False


def _letter(**fields: Any) -> DeadLetter:
    return DeadLetter(stage="sink", retriable=False, occurred_at=datetime.now(UTC), **fields)
