"""Sink consumers: one bulk consumer per dataset topic, living in the Faust worker.

Batches are bounded by size and time, written with one idempotent COPY-based upsert, and their
offsets committed only after the database committed. A batch the database rejects is split until
the bad rows are isolated and dead-lettered. A database outage holds the batch and retries it in
place; a worker that stops meanwhile abandons the batch uncommitted, for the partitions' next owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

import msgspec

from streamproc.contract import deadletters
from streamproc.contract.events import FieldError
from streamproc.datasets.model import Dataset
from streamproc.ingest.deadletter_writer import DeadLetterWriter
from streamproc.ingest.ledger import RowRef
from streamproc.ingest.ports import RecordSource, SinkStore
from streamproc.ingest.sink_batch import Decoded, SinkStats, UnexpectedRowError, check_offset, load_batch
from streamproc.shared.errors import StreamprocError, TerminalError
from streamproc.shared.faults import Faults
from streamproc.shared.logs import describe
from streamproc.shared.records import ConsumedRecord, TopicPart
from streamproc.shared.retry import Backoff, retry_transient

logger = logging.getLogger(__name__)

# Builds this sink's consumer: (on_assigned, on_revoked) -> an unstarted RecordSource.
SourceFactory = Callable[..., RecordSource]


class SinkConsumer:
    """Consumes one dataset topic in batches and writes them to PostgreSQL; never loses a row."""

    def __init__(
        self,
        *,
        dataset: Dataset,
        source: SourceFactory,
        store: SinkStore,
        letters: DeadLetterWriter,
        batch_size: int,
        batch_seconds: float,
        backoff_cap: float = 30.0,
        shutdown_grace: float = 10.0,
        faults: Faults | None = None,
    ) -> None:
        self.dataset = dataset
        self.store = store
        self.letters = letters
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.backoff_cap = backoff_cap
        # On shutdown an in-flight write gets this long to commit; after that it is abandoned, uncommitted,
        # and its batch is read again by whoever owns the partitions next.
        self.shutdown_grace = shutdown_grace
        self.stats = SinkStats()
        self.faults = faults or Faults()
        self._make_source = source
        self._written: dict[TopicPart, int] = {}

    async def _assigned(self, assigned: set[TopicPart]) -> None:
        logger.info("sink %s: partitions assigned %s", self.dataset.name, sorted(p for _, p in assigned))

    async def _revoked(self, revoked: set[TopicPart]) -> None:
        # Offsets are committed right after each batch's DB commit; an uncommitted batch comes again
        # to the partition's next owner, and the idempotent upsert makes that harmless.
        logger.info("sink %s: partitions revoked %s", self.dataset.name, sorted(p for _, p in revoked))
        for where in revoked:
            self._written.pop(where, None)

    def _backoff(self) -> Backoff:
        return Backoff(0.2, self.backoff_cap)

    async def run(self, stopping: asyncio.Event) -> None:
        """Consume until `stopping` is set; raises only what a restart may cure (the caller restarts)."""
        source = self._make_source(on_assigned=self._assigned, on_revoked=self._revoked)
        await source.start()
        writing: asyncio.Task[None] | None = None
        try:
            while not stopping.is_set():
                # Fetch and decode batch N+1 while the database writes batch N; commits stay in order
                # because batch N+1 is written only after batch N committed.
                t0 = time.monotonic()
                records = await self._collect(source, stopping)
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
                    writing = asyncio.create_task(self._flush(source, records, items))
                self._update_lag(source)
            else:
                if writing is not None:
                    await _finished_unless_stopping(writing, stopping, grace=self.shutdown_grace)
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
                await asyncio.gather(writing, return_exceptions=True)
            await source.stop()

    async def _collect(self, source: RecordSource, stopping: asyncio.Event) -> list[ConsumedRecord]:
        """Up to batch_size records. An idle topic is waited on up to batch_seconds; once records came, only what
        the consumer has already fetched is added, so a drained topic never holds a batch back (latency)."""
        records: list[ConsumedRecord] = []
        deadline = time.monotonic() + self.batch_seconds
        while len(records) < self.batch_size and not stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            got = await source.fetch(0 if records else int(left * 1000), self.batch_size - len(records))
            records.extend(got)
            if records and not got:
                break
        return records

    async def _flush(self, source: RecordSource, records: Sequence[ConsumedRecord], items: list[Decoded]) -> None:
        t0 = time.monotonic()
        await self._write(items)
        self.faults.hit("sink-commit")  # test-only: die with the batch committed to PostgreSQL, not to Kafka
        offsets: dict[TopicPart, int] = {}
        for rec in records:
            offsets[(rec.topic, rec.partition)] = max(offsets.get((rec.topic, rec.partition), 0), rec.offset + 1)
        self._written.update(offsets)
        try:
            await source.commit(offsets)
        except StreamprocError as exc:
            # A rebalance (or a broker away) lost the commit: the batch will be read again, and re-writing it
            # is harmless; a transient error here is not worth holding the next batch for.
            self.stats.commit_failures += 1
            logger.warning("sink %s: offsets not committed (%s); the batch will be read again", self.dataset.name, exc)
        self.stats.batches += 1
        self.stats.recovered()
        self.stats.last_batch_rows = len(records)
        self.stats.last_batch_seconds = time.monotonic() - t0
        self.stats.batch_rows.observe(len(records))
        self.stats.write_seconds.observe(self.stats.last_batch_seconds)

    async def _decode(self, records: Sequence[ConsumedRecord]) -> list[Decoded]:
        items: list[Decoded] = []
        decode, astuple = self.dataset.text_decoder.decode, msgspec.structs.astuple
        for rec in records:
            try:
                event = decode(rec.value or b"")
                p = event.provenance
                if p.event_time[-1:] != "Z":
                    check_offset(p.event_time)  # one that cannot be ordered against the others is refused here
            except (msgspec.DecodeError, RecursionError) as exc:
                await self._undecodable(rec, exc)
                continue
            items.append((rec.partition, rec.offset, event, (*astuple(event.row), *astuple(p))))
        return items

    async def _undecodable(self, rec: ConsumedRecord, exc: msgspec.DecodeError | RecursionError) -> None:
        self.stats.undecodable += 1
        logger.warning(
            "sink %s: undecodable row event at %s/%d@%d", self.dataset.name, rec.topic, rec.partition, rec.offset
        )
        letter = deadletters.unparsed(
            stage="sink",
            body=rec.value or b"",
            reason=f"undecodable row event: {exc}",
            error_class=type(exc).__name__,
            dataset=self.dataset.name,
            source=(rec.topic, rec.partition, rec.offset),
        )
        await self.letters.write([letter])

    async def _write(self, items: list[Decoded]) -> None:
        if not items:
            return
        try:
            batch = load_batch(self.dataset, self.dataset.topic, items)
            await retry_transient(
                lambda: self.store.write_batch(self.dataset, batch),
                what=f"sink {self.dataset.name}",
                backoff=self._backoff(),
                on_retry=self._count_retry,
            )
            self.stats.rows_written += len(items)
        except TerminalError as exc:
            await self._isolate(items, exc)
        except StreamprocError:
            raise
        except Exception as exc:
            # A bug meeting some row (say a value the code never expected): the rows it breaks on are isolated
            # and dead-lettered like rows the database refuses, so the sink never restarts onto one batch forever.
            self.stats.unexpected_errors += 1
            logger.exception("sink %s: a batch raised %s; isolating its rows", self.dataset.name, type(exc).__name__)
            await self._isolate(items, UnexpectedRowError(f"the sink failed on this row: {describe(exc)}", exc))

    async def _isolate(self, items: list[Decoded], exc: TerminalError) -> None:
        """Write the halves of a batch that failed; a single row that fails is dead-lettered with `exc`."""
        if len(items) == 1:
            await self._reject(items[0], exc)
            return
        mid = len(items) // 2
        await self._write(items[:mid])
        await self._write(items[mid:])

    def _count_retry(self, exc: BaseException) -> None:
        self.stats.write_retries += 1
        self.stats.failed(exc)

    async def _reject(self, item: Decoded, exc: TerminalError) -> None:
        partition, offset, event, _ = item
        p = event.provenance
        error_class = getattr(exc, "error_class", type(exc).__name__)
        logger.warning(
            "sink %s: s3://%s/%s line %d refused (%s)", self.dataset.name, p.bucket, p.key, p.line, error_class
        )
        letter = deadletters.sink_rejected(
            dataset=self.dataset.name,
            provenance=p,
            row=msgspec.to_builtins(event.row),
            phi_fields=self.dataset.phi_fields,
            error_class=error_class,
            sqlstate=getattr(exc, "sqlstate", None),
            source=(self.dataset.topic, partition, offset),
            reason=str(exc) if isinstance(exc, UnexpectedRowError) else None,
        )
        await self.letters.write([letter])
        sqlstate = getattr(exc, "sqlstate", None) or "unknown"
        error = FieldError(field="_row", rule="database", message=f"refused by the database (SQLSTATE {sqlstate})")
        if isinstance(exc, UnexpectedRowError):
            error = FieldError(field="_row", rule="sink_error", message=f"the sink failed on this row ({error_class})")
        ref = RowRef(
            bucket=p.bucket,
            key=p.key,
            version=p.version,
            line=p.line,
            partition=partition,
            error_class=error_class,
            errors=(error,),
        )
        await retry_transient(
            lambda: self.store.record_rejected(self.dataset, self.dataset.topic, [ref]),
            what="record rejected row",
            backoff=self._backoff(),
        )
        self.stats.rows_rejected += 1

    def _update_lag(self, source: RecordSource) -> None:
        """Lag per partition: the broker's high-water mark minus what this sink has written."""
        lag = {}
        for where in source.assignment():
            high = source.highwater(where)
            if high is not None:
                lag[f"{where[0]}/{where[1]}"] = max(0, high - self._written.get(where, high))
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


async def keep_running(sink: SinkConsumer, stopping: asyncio.Event, *, cap: float, first: float = 1.0) -> None:
    """Run `sink` until `stopping` is set; after an error, start it again with growing pauses (`first` up to
    `cap` seconds) so a sink failing on every start neither spins nor floods the log, while the other sinks
    and the fan-out go on. Its stats say since when it has been failing and why (health view, /metrics)."""
    backoff = Backoff(first, max(first, cap))
    while not stopping.is_set():
        batches = sink.stats.batches
        try:
            await sink.run(stopping)
        except Exception as exc:
            # A sink must outlive broker outages: log (tracebacks render without driver text), wait, restart.
            sink.stats.restarts += 1
            sink.stats.failed(exc)
            if sink.stats.batches > batches:
                backoff.reset()  # it wrote something since the last restart: not failing on every start
            delay = backoff.next()
            logger.exception(
                "sink %s stopped (restart %d); starting again in %.1fs", sink.dataset.name, sink.stats.restarts, delay
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=delay)
