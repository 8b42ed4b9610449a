"""Fan-out of one object event: stream the file, validate rows, emit row events and dead letters, keep the ledger."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

from streamproc.adapters.postgres import Database, SplitCounts
from streamproc.adapters.s3 import ObjectUnreadable, S3Reader
from streamproc.datasets import Dataset
from streamproc.datasets.registry import Registry
from streamproc.events import ENCODER, OBJECT_EVENT_DECODER, DeadLetter, ObjectEvent, Provenance
from streamproc.parsing import CsvFileParser, FileRejected, RejectedRow, ValidRow
from streamproc.retry import retry_transient

logger = logging.getLogger(__name__)


class Producer(Protocol):
    """What the fan-out needs from Kafka: enqueue a record, get a future of its acknowledgement."""

    async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[Any]: ...
    async def wait(self, pending: list[asyncio.Future[Any]]) -> None: ...


@dataclass
class FanOutStats:
    files: int = 0
    files_failed: int = 0
    rows_emitted: int = 0
    rows_rejected: int = 0
    dead_letters: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Position:
    topic: str
    partition: int
    offset: int


class FanOut:
    """Turns object events into row events; never raises (terminal errors become dead letters)."""

    def __init__(
        self,
        *,
        registry: Registry,
        db: Database,
        s3: S3Reader,
        producer: Producer,
        deadletter_topic: str,
        window: int = 20_000,
        backoff_cap: float = 30.0,
    ) -> None:
        self.registry = registry
        self.db = db
        self.s3 = s3
        self.producer = producer
        self.deadletter_topic = deadletter_topic
        self.window = window
        self.backoff_cap = backoff_cap
        self.stats = FanOutStats()

    async def handle(self, raw: bytes, where: Position) -> None:
        try:
            event = OBJECT_EVENT_DECODER.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            logger.warning("undecodable object event at %s/%d@%d: %s", where.topic, where.partition, where.offset, exc)
            letter = _letter(
                reason=f"undecodable object event: {exc}",
                error_class=type(exc).__name__,
                source_topic=where.topic,
                source_partition=where.partition,
                source_offset=where.offset,
                raw=raw[:65536].decode("utf-8", "replace"),
            )
            await self._retry(lambda: self._dead_letter(letter), "dead letter")
            return
        try:
            await self._retry(lambda: self._ingest(event), f"s3://{event.bucket}/{event.key}")
        except Exception as exc:
            # A bug or an unexpected terminal error: the event is acked by Faust anyway, so say it loudly.
            logger.exception("s3://%s/%s: failed with %s", event.bucket, event.key, type(exc).__name__)
            await self._fail_unexpected(event, exc)

    async def _retry(self, op: Callable[[], Awaitable[None]], what: str) -> None:
        await retry_transient(op, what=what, cap=self.backoff_cap)

    async def _ingest(self, event: ObjectEvent) -> None:
        file_id = await self.db.begin_file(event)
        parser = CsvFileParser(self.registry, event.key, gzip=event.key.lower().endswith(".gz"))
        pending: list[asyncio.Future[Any]] = []
        try:
            async for chunk in self.s3.chunks(event.bucket, event.key, event.version_id):
                pending += [await self._emit(item, event, parser.dataset) for item in parser.feed(chunk)]
                if len(pending) >= self.window:
                    await self.producer.wait(pending)
                    pending.clear()
            pending += [await self._emit(item, event, parser.dataset) for item in parser.close()]
            await self.producer.wait(pending)
        except (FileRejected, ObjectUnreadable) as exc:
            await self.producer.wait(pending)
            await self._fail(file_id, event, parser, exc)
            return
        status = await self.db.finish_split(file_id, _counts(parser))
        self.stats.files += 1
        self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
        logger.info(
            "s3://%s/%s: %s, dataset %s, %d rows read, %d valid, %d rejected",
            event.bucket, event.key, status, parser.dataset.name if parser.dataset else "-",
            parser.rows_read, parser.rows_valid, parser.rows_rejected,
        )  # fmt: skip

    async def _emit(
        self, item: ValidRow | RejectedRow, event: ObjectEvent, dataset: Dataset | None
    ) -> asyncio.Future[Any]:
        if dataset is None:
            msg = "the parser yielded a row before it recognised the dataset"
            raise RuntimeError(msg)
        if isinstance(item, ValidRow):
            provenance = Provenance(
                bucket=event.bucket, key=event.key, version=event.version, line=item.line, event_time=event.event_time
            )
            value = ENCODER.encode(dataset.event(item.row, provenance))
            key = dataset.key_of(item.row).encode()
            self.stats.rows_emitted += 1
            return await self.producer.send(dataset.topic, value, key)
        self.stats.rows_rejected += 1
        letter = _letter(
            reason="row failed validation: " + "; ".join(f"{e.field}: {e.rule}" for e in item.errors),
            error_class=item.error_class,
            dataset=dataset.name,
            bucket=event.bucket,
            key=event.key,
            version=event.version,
            line=item.line,
            errors=item.errors,
            raw=item.raw_masked,
        )
        return await self._send_letter(letter)

    async def _fail(
        self, file_id: int, event: ObjectEvent, parser: CsvFileParser, exc: FileRejected | ObjectUnreadable
    ) -> None:
        reason = exc.reason if isinstance(exc, FileRejected) else str(exc)
        error_class = exc.error_class if isinstance(exc, FileRejected) else type(exc).__name__
        dataset = parser.dataset.name if parser.dataset else None
        letter = _letter(
            reason=reason,
            error_class=error_class,
            dataset=dataset,
            bucket=event.bucket,
            key=event.key,
            version=event.version,
        )
        await self._dead_letter(letter)
        await self.db.fail_file(file_id, reason, _counts(parser))
        self.stats.files_failed += 1
        self.stats.by_status["FAILED"] = self.stats.by_status.get("FAILED", 0) + 1
        logger.warning("s3://%s/%s: FAILED (%s)", event.bucket, event.key, error_class)

    async def _fail_unexpected(self, event: ObjectEvent, exc: Exception) -> None:
        letter = _letter(
            reason=f"unexpected error while ingesting: {type(exc).__name__}",
            error_class=type(exc).__name__,
            bucket=event.bucket,
            key=event.key,
            version=event.version,
        )
        try:
            await self._dead_letter(letter)
            file_id = await self.db.begin_file(event)
            await self.db.fail_file(file_id, letter.reason, SplitCounts(dataset=None))
        except Exception:
            logger.exception("s3://%s/%s: could not record the failure", event.bucket, event.key)

    async def _send_letter(self, letter: DeadLetter) -> asyncio.Future[Any]:
        self.stats.dead_letters += 1
        return await self.producer.send(self.deadletter_topic, ENCODER.encode(letter), letter.message_key.encode())

    async def _dead_letter(self, letter: DeadLetter) -> None:
        await self.producer.wait([await self._send_letter(letter)])


def _letter(**fields: Any) -> DeadLetter:
    return DeadLetter(stage="split", retriable=False, occurred_at=datetime.now(UTC), **fields)


def _counts(parser: CsvFileParser) -> SplitCounts:
    return SplitCounts(
        dataset=parser.dataset.name if parser.dataset else None,
        rows_read=parser.rows_read,
        rows_valid=parser.rows_valid,
        rows_rejected=parser.rows_rejected,
        unknown_columns=len(parser.unknown_columns),
    )
