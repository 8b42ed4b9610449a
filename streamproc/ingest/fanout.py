"""Fan-out of one object event: stream the file, validate rows, emit row events and dead letters, keep the ledger.

`FanOut.handle` never raises (Faust acks an event even when the agent raises): a terminal error fails
the file with a dead letter; transient errors are retried in place at their own grain: a ledger call
is repeated, a broken S3 stream is read again without emitting a line twice, records Kafka did not
take are sent again, and records handed over but not yet acknowledged are awaited, never re-sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import TypeVar

import msgspec

from streamproc.contract import deadletters
from streamproc.contract.events import (
    OBJECT_EVENT_DECODER,
    SCHEMA_VERSION,
    WRITTEN_DECODER,
    DeadLetter,
    ObjectEvent,
)
from streamproc.datasets.declared import data_key_of
from streamproc.datasets.registry import Registry
from streamproc.ingest.deadletter_writer import DeadLetterWriter
from streamproc.ingest.evaluation import AwaitingManifest, FileHeld
from streamproc.ingest.ledger import (
    AWAITING_MANIFEST,
    FAILED,
    HELD,
    SUPERSEDED,
    Claim,
    ClaimLost,
    Fence,
    Held,
    SplitCounts,
)
from streamproc.ingest.manifests import manifest_arrived
from streamproc.ingest.ports import (
    FileLedger,
    ManifestLedger,
    ObjectStore,
    ObjectSuperseded,
    RecordProducer,
    TopicSource,
)
from streamproc.ingest.rejections import FileRejected
from streamproc.ingest.split import Split
from streamproc.ingest.split_context import FanOutStats, Position, SplitContext, SplitPolicy
from streamproc.shared.errors import StreamprocError, TerminalError
from streamproc.shared.logs import describe

logger = logging.getLogger(__name__)

T = TypeVar("T")


class FanOut:
    """Turns object events into row events; never raises (terminal errors become dead letters)."""

    def __init__(
        self,
        *,
        registry: Registry,
        ledger: FileLedger,
        store: ObjectStore,
        producer: RecordProducer,
        reader: TopicSource,
        letters: DeadLetterWriter,
        policy: SplitPolicy,
        manifests: ManifestLedger | None = None,
    ) -> None:
        self.context = SplitContext(
            registry=registry, ledger=ledger, store=store, producer=producer, reader=reader, letters=letters,
            policy=policy,
        )  # fmt: skip
        self.manifests = manifests  # None: manifests are not watched for (no dataset requires one to wait)
        self._stopping = asyncio.Event()  # set by stop(): no new event is started, the one in hand is let go
        self._idle = asyncio.Event()  # set while no event is in hand
        self._idle.set()
        self._in_hand: Position | None = None
        self._let_go = asyncio.Event()  # set by revoked(): the partition of the event in hand moved away

    @property
    def stats(self) -> FanOutStats:
        """The counters since start (read by the stats page and the metrics)."""
        return self.context.stats

    async def handle(self, raw: bytes, where: Position) -> bool:
        """Ingest the object the event names; every failure ends in the ledger and a dead letter. True once the
        event is done with (the caller acks it); False if the worker stopped first: the split in hand released
        its claim and the event must stay unacked, so the partition's next owner resumes the file."""
        if self._stopping.is_set():
            return False
        self._idle.clear()
        self._in_hand = where
        self._let_go.clear()
        work = asyncio.ensure_future(self._handle(raw, where))
        stops = {asyncio.ensure_future(self._stopping.wait()), asyncio.ensure_future(self._let_go.wait())}
        try:
            await asyncio.wait({work, *stops}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for stop in stops:
                stop.cancel()
            if not work.done():  # stopping, revoked (or the agent itself cancelled): _split releases the claim
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work
            self._in_hand = None
            self._idle.set()
        return not work.cancelled()

    async def revoked(self, partitions: set[tuple[str, int]], grace: float) -> None:
        """A rebalance took these (topic, partition)s away: if the event in hand is on one of them, let go of it
        (its claim released, the event left unacked) so that the rebalance need not wait for the whole file, and
        its partition's next owner resumes the file from its checkpoint. Waits up to `grace` s for that."""
        where = self._in_hand
        if where is None or (where.topic, where.partition) not in partitions:
            return
        self._let_go.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)

    async def stop(self, grace: float) -> None:
        """Start no new event and let go of the one in hand (its claim released); wait up to `grace` s for it."""
        self._stopping.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)

    async def _handle(self, raw: bytes, where: Position) -> None:
        try:
            written = WRITTEN_DECODER.decode(raw).schema_version
            if written > SCHEMA_VERSION:
                await self._wait_for_upgrade(written, where)
            event = OBJECT_EVENT_DECODER.decode(raw)
        except (msgspec.DecodeError, RecursionError) as exc:  # ValidationError too; deep nesting recurses
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
        fence: Fence | None = None
        try:
            if (data_key := data_key_of(event.key)) is not None:
                await manifest_arrived(self.context, self.manifests, event, data_key)
                return
            claim = await self._claim(event)
            if claim.skipped is not None:
                self.stats.duplicates += 1
                logger.info("s3://%s/%s: event skipped: %s", event.bucket, event.key, claim.skipped)
                return
            fence = claim.fence
            await self._split(event, claim)
        except ClaimLost as exc:  # paused past the lease: the worker that took over finishes the file
            self.stats.claims_lost += 1
            logger.warning("s3://%s/%s: split stopped: %s", event.bucket, event.key, exc)
        except Exception as exc:
            # A bug or an unexpected terminal error: the event is acked by Faust anyway, so say it loudly.
            logger.exception("s3://%s/%s: failed unexpectedly", event.bucket, event.key)
            await self._fail_unexpected(event, exc, fence)

    async def _wait_for_upgrade(self, written: int, where: Position) -> None:
        """An event a newer version wrote: never dropped, never half-understood. This worker holds it (the agent
        does not ack it, so the partition waits) and says so until it is stopped and upgraded."""
        self.stats.newer_events = where
        while True:
            logger.error(
                "object event at %s/%d@%d was written by schema version %d; this worker reads up to %d: it holds "
                "the event (not acked, nothing lost) until the worker is upgraded",
                where.topic, where.partition, where.offset, written, SCHEMA_VERSION,
            )  # fmt: skip
            await asyncio.sleep(60)

    async def _claim(self, event: ObjectEvent) -> Claim:
        """The ledger's claim; while another live worker splits this version, wait (bounded by the lease)."""
        ctx = self.context
        owner, lease, where = ctx.policy.owner, ctx.policy.lease, f"s3://{event.bucket}/{event.key}"
        while True:
            claim = await ctx.retry(lambda: ctx.ledger.claim(event, owner, lease), f"ledger {where}")
            if not claim.wait:
                return claim
            logger.info("%s: another worker is splitting it; waiting for it to finish or its claim to lapse", where)
            await asyncio.sleep(claim.wait)

    async def _split(self, event: ObjectEvent, claim: Claim) -> None:
        resumed = f", resuming after line {claim.resume.line}" if claim.resume else ""
        logger.info("s3://%s/%s: split starts, attempt %d%s", event.bucket, event.key, claim.attempt, resumed)
        split = Split(self.context, event, claim)
        try:
            parser = await split.run()
        except FileHeld as held:  # failed a control: its dead letters are out, no row of it is
            await split.settle()
            await self._hold(claim.fence, event, split.counts(), held)
            return
        except AwaitingManifest as awaiting:  # nothing of it is out: the manifest's arrival takes it up again
            record = Held(reason="awaiting its manifest", findings=(), sha256=awaiting.sha256)
            ledger = self.context.ledger
            await self.context.retry(
                lambda: ledger.hold_file(claim.fence, record, split.counts(), AWAITING_MANIFEST), "ledger await"
            )
            self.stats.finished(AWAITING_MANIFEST)
            logger.info("s3://%s/%s: awaiting its manifest; nothing published", event.bucket, event.key)
            return
        except TerminalError as exc:  # FileRejected, an unreadable object, a record Kafka refuses
            await split.settle()
            await self._fail(claim.fence, event, split.counts(), exc)
            return
        except asyncio.CancelledError:  # the worker stops mid-file: let the next owner resume at once
            await asyncio.shield(self._release(claim.fence))
            raise
        finally:
            split.stop_heartbeat()
        counts = split.counts(parser)
        ledger = self.context.ledger
        status = await self.context.retry(lambda: ledger.finish_split(claim.fence, counts), "ledger finish")
        self.stats.files += 1
        self.stats.finished(status)
        logger.info(
            "s3://%s/%s: split done, %s, dataset %s, %d rows read, %d valid, %d rejected",
            event.bucket, event.key, status, counts.dataset or "-", counts.rows_read, counts.rows_valid,
            counts.rows_rejected,
        )  # fmt: skip

    async def _hold(self, fence: Fence, event: ObjectEvent, counts: SplitCounts, held: FileHeld) -> None:
        findings = tuple(dataclasses.asdict(f) for f in held.verdict.findings)
        record = Held(reason=held.verdict.reason, findings=findings, sha256=held.sha256)
        ledger = self.context.ledger
        await self.context.retry(lambda: ledger.hold_file(fence, record, counts), "ledger hold")
        self.stats.finished(HELD)
        logger.warning(
            "s3://%s/%s: HELD (%s), dataset %s, %d rows read, %d rejected; nothing published until a decision",
            event.bucket, event.key, ", ".join(f.control for f in held.verdict.findings if f.action == "hold"),
            counts.dataset or "-", counts.rows_read, counts.rows_rejected,
        )  # fmt: skip

    async def _fail(self, fence: Fence, event: ObjectEvent, counts: SplitCounts, exc: Exception) -> None:
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
        await self.context.letters.write([letter])
        self.stats.dead_letters += 1
        ledger = self.context.ledger
        status = SUPERSEDED if isinstance(exc, ObjectSuperseded) else FAILED
        await self.context.retry(lambda: ledger.fail_file(fence, reason, counts, status), "ledger fail")
        self.stats.files_failed += 1
        self.stats.finished(status)
        logger.warning("s3://%s/%s: %s (%s)", event.bucket, event.key, status, error_class)

    async def _fail_unexpected(self, event: ObjectEvent, exc: Exception, fence: Fence | None) -> None:
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
            await self.context.letters.write([letter])
            if fence is not None:
                await self.context.ledger.fail_file(fence, reason, SplitCounts(dataset=None))
        except Exception:
            logger.exception("s3://%s/%s: could not record the failure", event.bucket, event.key)
        self.stats.files_failed += 1
        self.stats.finished(FAILED)

    async def _release(self, fence: Fence) -> None:
        try:
            await self.context.ledger.release(fence)
        except StreamprocError as exc:
            logger.warning("could not release the claim on file %d (%s); it lapses after the lease", fence.file_id, exc)

    async def _write_letter_or_log(self, letter: DeadLetter) -> None:
        try:
            await self.context.letters.write([letter])
            self.stats.dead_letters += 1
        except Exception:
            logger.exception("could not write a dead letter for %s", letter.message_key)
