"""Fan-out of one object event: stream the file, validate rows, emit row events and dead letters, keep the ledger.

`FanOut.handle` never raises (Faust acks an event even when the agent raises): a terminal error fails
the file with a dead letter; transient errors are retried in place at their own grain: a ledger call
is repeated, a broken S3 stream is read again without emitting a line twice, records Kafka did not
take are sent again, and records handed over but not yet acknowledged are awaited, never re-sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import msgspec

from streamproc.datasets import Dataset
from streamproc.datasets.registry import Registry
from streamproc.deadletter_writer import DeadLetterWriter
from streamproc.events import OBJECT_EVENT_DECODER, DeadLetter, ObjectEvent, Provenance, event_envelope
from streamproc.ledger import FAILED, MAX_REJECTS_PER_FILE, Claim, Reject, SplitCounts
from streamproc.parsing import CsvFileParser, FileRejected, Parsed, RejectedRow, ValidRow
from streamproc.ports import FileLedger, ObjectStore, RecordProducer
from streamproc.shared import deadletters
from streamproc.shared.delivery import Delivery, confirm
from streamproc.shared.errors import TerminalError, TransientError
from streamproc.shared.logs import describe
from streamproc.shared.retry import Backoff, retry_transient

logger = logging.getLogger(__name__)

T = TypeVar("T")
Item = tuple[bytes, bytes]


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


class FanOut:
    """Turns object events into row events; never raises (terminal errors become dead letters)."""

    def __init__(
        self,
        *,
        registry: Registry,
        ledger: FileLedger,
        store: ObjectStore,
        producer: RecordProducer,
        letters: DeadLetterWriter,
        window: int = 20_000,
        backoff_cap: float = 30.0,
    ) -> None:
        self.registry = registry
        self.ledger = ledger
        self.store = store
        self.producer = producer
        self.letters = letters
        self.window = window
        self.backoff_cap = backoff_cap
        self.stats = FanOutStats()

    def backoff(self) -> Backoff:
        return Backoff(0.2, self.backoff_cap)

    async def retry(self, op: Callable[[], Awaitable[T]], what: str) -> T:
        return await retry_transient(op, what=what, backoff=self.backoff())

    async def handle(self, raw: bytes, where: Position) -> None:
        """Ingest the object the event names; every failure ends in the ledger and a dead letter."""
        try:
            event = OBJECT_EVENT_DECODER.decode(raw)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            logger.warning("undecodable object event at %s/%d@%d", where.topic, where.partition, where.offset)
            letter = deadletters.unparsed(
                stage="split",
                body=raw,
                reason=f"undecodable object event: {exc}",
                error_class=type(exc).__name__,
                source=(where.topic, where.partition, where.offset),
            )
            await self._write_letter_or_log(letter)
            return
        file_id: int | None = None
        try:
            claim = await self.retry(lambda: self.ledger.claim(event), f"ledger s3://{event.bucket}/{event.key}")
            if claim.skipped is not None:
                self.stats.duplicates += 1
                logger.info("s3://%s/%s: event skipped: %s", event.bucket, event.key, claim.skipped)
                return
            file_id = claim.file_id
            await self._split(event, claim)
        except Exception as exc:
            # A bug or an unexpected terminal error: the event is acked by Faust anyway, so say it loudly.
            logger.exception("s3://%s/%s: failed unexpectedly", event.bucket, event.key)
            await self._fail_unexpected(event, exc, file_id)

    async def _split(self, event: ObjectEvent, claim: Claim) -> None:
        logger.info("s3://%s/%s: split starts, attempt %d", event.bucket, event.key, claim.attempt)
        split = _Split(self, event, claim.file_id)
        try:
            parser = await split.run()
        except TerminalError as exc:  # FileRejected, an unreadable object, a record Kafka refuses
            await split.settle()
            await self._fail(claim.file_id, event, split.counts(), exc)
            return
        counts = split.counts(parser)
        status = await self.retry(lambda: self.ledger.finish_split(claim.file_id, counts), "ledger finish")
        self.stats.files += 1
        self.stats.finished(status)
        logger.info(
            "s3://%s/%s: split done, %s, dataset %s, %d rows read, %d valid, %d rejected",
            event.bucket, event.key, status, counts.dataset or "-", counts.rows_read, counts.rows_valid,
            counts.rows_rejected,
        )  # fmt: skip

    async def _fail(self, file_id: int, event: ObjectEvent, counts: SplitCounts, exc: Exception) -> None:
        reason = exc.reason if isinstance(exc, FileRejected) else str(exc)
        error_class = exc.error_class if isinstance(exc, FileRejected) else type(exc).__name__
        letter = deadletters.file_failed(
            bucket=event.bucket,
            key=event.key,
            version=event.version,
            dataset=counts.dataset,
            reason=reason,
            error_class=error_class,
        )
        await self.letters.write([letter])
        self.stats.dead_letters += 1
        await self.retry(lambda: self.ledger.fail_file(file_id, reason, counts), "ledger fail")
        self.stats.files_failed += 1
        self.stats.finished(FAILED)
        logger.warning("s3://%s/%s: FAILED (%s)", event.bucket, event.key, error_class)

    async def _fail_unexpected(self, event: ObjectEvent, exc: Exception, file_id: int | None) -> None:
        reason = f"unexpected error while ingesting: {describe(exc)}"
        letter = deadletters.file_failed(
            bucket=event.bucket,
            key=event.key,
            version=event.version,
            dataset=None,
            reason=reason,
            error_class=type(exc).__name__,
        )
        try:
            await self.letters.write([letter])
            if file_id is not None:
                await self.ledger.fail_file(file_id, reason, SplitCounts(dataset=None))
        except Exception:
            logger.exception("s3://%s/%s: could not record the failure", event.bucket, event.key)
        self.stats.files_failed += 1
        self.stats.finished(FAILED)

    async def _write_letter_or_log(self, letter: DeadLetter) -> None:
        try:
            await self.letters.write([letter])
            self.stats.dead_letters += 1
        except Exception:
            logger.exception("could not write a dead letter for %s", letter.message_key)


class _Split:
    """One pass over one object: emits each line once, however often the stream has to be read again."""

    def __init__(self, fanout: FanOut, event: ObjectEvent, file_id: int) -> None:
        self.fanout = fanout
        self.event = event
        self.file_id = file_id
        self.rejects: list[Reject] = []  # why rows were dead-lettered, for the ledger (flushed with each window)
        self.rejects_kept = 0
        self.envelope: tuple[bytes, bytes] | None = None
        self.parser: CsvFileParser | None = None
        self.emitted_through = 0  # the highest line already handed to the producer
        self.in_window = 0
        self.pending: list[tuple[str, Sequence[Item], Delivery]] = []

    async def run(self) -> CsvFileParser:
        """Stream, parse and emit the whole object; every record acknowledged when it returns."""
        backoff = self.fanout.backoff()
        while True:
            self.parser = parser = self._new_parser()
            try:
                async for chunk in self.fanout.store.chunks(self.event.bucket, self.event.key, self.event.version_id):
                    self.fanout.stats.bytes_read += len(chunk)
                    await self._emit(parser.feed(chunk))
                await self._emit(parser.close())
            except TransientError as exc:
                # The stream broke: read the object again; lines already emitted are skipped, not sent twice.
                delay = backoff.next()
                self.fanout.stats.stream_retries += 1
                logger.warning("s3://%s/%s: %s; reading again in %.1fs", self.event.bucket, self.event.key, exc, delay)
                await asyncio.sleep(delay)
                continue
            await self.settle()
            return parser

    def _new_parser(self) -> CsvFileParser:
        return CsvFileParser(self.fanout.registry, self.event.key, gzip=self.event.key.lower().endswith(".gz"))

    def counts(self, parser: CsvFileParser | None = None) -> SplitCounts:
        p = parser or self.parser
        if p is None:
            return SplitCounts(dataset=None)
        return SplitCounts(
            dataset=p.dataset.name if p.dataset else None,
            rows_read=p.rows_read,
            rows_valid=p.rows_valid,
            rows_rejected=p.rows_rejected,
            unknown_columns=len(p.unknown_columns),
        )

    async def _emit(self, parsed: list[Parsed]) -> None:
        fresh = [item for item in parsed if item.line > self.emitted_through]
        if not fresh:
            return
        dataset = self.parser.dataset if self.parser else None
        if dataset is None:
            msg = "the parser yielded a row before it recognised the dataset"
            raise RuntimeError(msg)
        head, middle = self._envelope(dataset)
        rows = [(r.key, b"%b%d%b%b}" % (head, r.line, middle, r.row_json)) for r in fresh if isinstance(r, ValidRow)]
        letters = [self._letter(item, dataset) for item in fresh if isinstance(item, RejectedRow)]
        if rows:
            await self._send(dataset.topic, rows)
        if letters:
            await self._send(self.fanout.letters.topic, [DeadLetterWriter.record(x) for x in letters])
        self._keep_reasons(fresh)
        stats = self.fanout.stats
        stats.rows_emitted += len(rows)
        stats.rows_rejected += len(letters)
        stats.dead_letters += len(letters)
        stats.emitted(dataset.name, len(rows), len(letters))
        self.emitted_through = fresh[-1].line
        self.in_window += len(fresh)
        if self.in_window >= self.fanout.window:
            await self.settle()

    def _keep_reasons(self, fresh: list[Parsed]) -> None:
        for item in fresh:
            if isinstance(item, RejectedRow) and self.rejects_kept < MAX_REJECTS_PER_FILE:
                self.rejects.append(
                    Reject(line=item.line, stage="split", error_class=item.error_class, errors=item.errors)
                )
                self.rejects_kept += 1

    def _envelope(self, dataset: Dataset) -> tuple[bytes, bytes]:
        """The bytes around each row's JSON in this file's row events (one provenance, one dataset)."""
        if self.envelope is None:
            e = self.event
            provenance = Provenance(bucket=e.bucket, key=e.key, version=e.version, line=1, event_time=e.event_time)
            self.envelope = event_envelope(dataset.name, provenance)
        return self.envelope

    def _letter(self, item: RejectedRow, dataset: Dataset) -> DeadLetter:
        e = self.event
        return deadletters.row_rejected(
            dataset=dataset.name,
            bucket=e.bucket,
            key=e.key,
            version=e.version,
            line=item.line,
            errors=item.errors,
            error_class=item.error_class,
            raw_masked=item.raw_masked,
        )

    async def _send(self, topic: str, items: Sequence[Item]) -> None:
        delivery = await self.fanout.producer.send(topic, items)
        if delivery.error is not None:  # some batches never left: settle what did, then send the rest again
            await self._confirm(topic, items, delivery)
            return
        self.pending.append((topic, items, delivery))

    async def settle(self) -> None:
        """Wait until everything handed over is acknowledged (the file's window)."""
        pending, self.pending, self.in_window = self.pending, [], 0
        try:
            for topic, items, delivery in pending:
                await self._confirm(topic, items, delivery)
        finally:
            for _, _, delivery in pending:
                delivery.abandon()
        rejects, self.rejects = self.rejects, []
        if rejects:
            await self.fanout.retry(lambda: self.fanout.ledger.record_rejects(self.file_id, rejects), "ledger rejects")

    async def _confirm(self, topic: str, items: Sequence[Item], delivery: Delivery) -> None:
        producer = self.fanout.producer
        await confirm(
            delivery,
            items,
            lambda again: producer.send(topic, again),
            patience=producer.ack_timeout,
            backoff=self.fanout.backoff(),
            what=f"s3://{self.event.bucket}/{self.event.key} -> {topic}",
        )
