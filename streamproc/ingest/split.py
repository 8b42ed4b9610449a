"""One pass over one object: parse, emit each line once, checkpoint what Kafka acknowledged, resume after a crash.

Emitting once, however the pass is interrupted:
- a broken S3 stream is read again from the start, and lines already handed to the producer are skipped;
- at every window the pass waits for Kafka's acknowledgements and checkpoints in the ledger: every line up
  to L is acknowledged, and any later record of the file is at or after these offsets of its topics;
- a pass resumed from a checkpoint (its worker died) first reads its topics from those offsets, to see what
  landed after the checkpoint: a row is skipped when its line is at or below the last line of this file
  found in the partition its key maps to. So a crash mid-file duplicates no row event.

A file whose dataset declares controls (see streamproc.datasets.controls) is evaluated before anything of it is
published: the pass writes its records to a spool on the worker's disk (never a topic) while the parser tallies
the file, the verdict is taken at its end, and only then are the records published from the spool, in the same
windows and checkpoints as above. A held file publishes no row: `run` raises FileHeld, and the fan-out records it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from streamproc.contract import deadletters
from streamproc.contract.events import DeadLetter, ObjectEvent, Provenance, event_envelope
from streamproc.datasets.declared import manifest_key
from streamproc.datasets.model import Dataset
from streamproc.ingest.deadletter_writer import DeadLetterWriter
from streamproc.ingest.evaluation import Evaluation, FileHeld, Judging
from streamproc.ingest.frontier import Frontier, advance
from streamproc.ingest.ledger import MAX_REJECTS_PER_FILE, Checkpoint, Claim, ClaimLost, Judgement, Reject, SplitCounts
from streamproc.ingest.parsing import CsvFileParser, Parsed, RejectedRow, ValidRow
from streamproc.ingest.split_context import SplitContext
from streamproc.shared.delivery import Delivery, confirm
from streamproc.shared.errors import TransientError

logger = logging.getLogger(__name__)
Item = tuple[bytes, bytes]


class Split:
    """Splits one object version for a claim; `run` returns the parser once every record is acknowledged."""

    def __init__(self, context: SplitContext, event: ObjectEvent, claim: Claim) -> None:
        self.context = context
        self.event = event
        self.claim = claim
        self.file_id = claim.file_id
        self.fence = claim.fence  # every ledger write of this split names it; ClaimLost once it is taken over
        self.lost: ClaimLost | None = None  # set by the heartbeat when another worker took the claim
        self.beat_at = time.monotonic()  # when the ledger last confirmed the claim is ours
        self.rejects: list[Reject] = []  # why rows were dead-lettered, for the ledger (flushed with each window)
        self.rejects_kept = 0
        self.envelope: tuple[bytes, bytes] | None = None
        self.parser: CsvFileParser | None = None
        self.checkpoint = claim.resume  # None until the first one of this attempt is written
        self.emitted_through = claim.resume.line if claim.resume else 0  # highest line handed to the producer
        self.frontier: Frontier | None = None  # what a resumed pass finds already on its topics
        self.in_window = 0
        self.pending: list[tuple[str, Sequence[Item], Delivery]] = []
        self.evaluation: Evaluation | None = None  # while a file with controls is evaluated
        self.withheld = False  # the pass ended while evaluating: nothing of the file was published
        self._heartbeat = asyncio.ensure_future(self._beat())

    async def run(self) -> CsvFileParser:
        """Stream, parse and emit the whole object; every record acknowledged when it returns."""
        backoff = self.context.backoff()
        while True:
            gzip = self.event.key.lower().endswith(".gz")
            limits = self.context.policy.limits
            evaluate = bool(self.claim.holds) or self.claim.judged is not None  # a sender hold, or a release
            parser = CsvFileParser(self.context.registry, self.event.key, gzip=gzip, limits=limits, evaluate=evaluate)
            self.parser = parser
            try:
                e = self.event
                async for chunk in self.context.store.chunks(e.bucket, e.key, e.version_id, e.etag):
                    self.context.stats.bytes_read += len(chunk)
                    for step in parser.steps(chunk):  # bounded work between two turns of the event loop
                        await self._take(step)
                        await asyncio.sleep(0)
                await self._take(parser.close())
            except TransientError as exc:
                self._drop_evaluation()  # the pass starts over: so does its evaluation
                # The stream broke: read the object again; lines already emitted are skipped, not sent twice.
                delay = backoff.next()
                self.context.stats.stream_retries += 1
                logger.warning("s3://%s/%s: %s; reading again in %.1fs", self.event.bucket, self.event.key, exc, delay)
                await asyncio.sleep(delay)
                continue
            except BaseException:
                self.withheld = self.evaluation is not None  # refused (or stopped) before anything was published
                self._drop_evaluation()
                raise
            if self.evaluation is not None:
                await self._publish_evaluated(self.evaluation, parser)
            await self.settle()
            return parser

    async def _take(self, parsed: list[Parsed]) -> None:
        """What the parser yielded: published at once, or spooled while a file with controls is evaluated."""
        if self.evaluation is None and self.parser is not None and self.parser.tally is not None:
            policy = self.context.policy
            self.evaluation = Evaluation(policy.spool_dir, policy.spool_bytes)
        if self.evaluation is None:
            await self._emit(parsed)
        else:
            self.evaluation.add(parsed)

    def _drop_evaluation(self) -> None:
        if self.evaluation is not None:
            self.evaluation.close()
            self.evaluation = None

    async def _publish_evaluated(self, evaluation: Evaluation, parser: CsvFileParser) -> None:
        """The verdict on the evaluated file: published from the spool if it passes (or only warns); else only its
        dead letters (masked, the evidence) are, its rejects kept in the ledger, and FileHeld raised. No checkpoint
        for a held file: a release starts it afresh."""
        ctx, fence, letters_out, e = self.context, self.fence, self.claim.letters_out, self.event

        async def judge(judgement: Judgement) -> str | None:
            return await ctx.retry(lambda: ctx.ledger.judge(fence, judgement), "ledger verdict")

        async def manifest() -> bytes | None:
            return await ctx.retry(lambda: ctx.store.small(e.bucket, manifest_key(e.key)), "manifest")

        wait = ctx.policy.manifest_wait
        try:
            j = Judging(claim=self.claim, key=e.key, judge=judge, manifest=manifest, manifest_wait=wait)
            verdict, sha256 = await Evaluation.judged(parser, j)
            if not verdict.held:  # a release publishes the rows only: its dead letters went out when it was held
                for items in evaluation.records(rows_only=letters_out):
                    await self._emit(items)
                    await asyncio.sleep(0)
                return
            dataset = parser.dataset
            for rejected in evaluation.rejected():
                if dataset is None or letters_out:
                    break
                await self._hold()
                await self.context.letters.write([self._letter(r, dataset) for r in rejected])
                self._keep_reasons(list(rejected))
                self.context.stats.dead_letters += len(rejected)
                self.context.stats.rows_rejected += len(rejected)
                await self._flush_rejects()
            raise FileHeld(verdict, sha256)
        finally:
            self._drop_evaluation()

    def counts(self, parser: CsvFileParser | None = None) -> SplitCounts:
        """What the pass saw; no row for a file refused while it was evaluated (nothing of it was published)."""
        p = parser or self.parser
        name = p.dataset.name if p and p.dataset else None
        if p is None or self.withheld:
            return SplitCounts(dataset=name)
        return SplitCounts(
            dataset=name, rows_read=p.rows_read, rows_valid=p.rows_valid, rows_rejected=p.rows_rejected,
            unknown_columns=len(p.unknown_columns),
        )  # fmt: skip

    async def _emit(self, parsed: list[Parsed]) -> None:
        fresh = [item for item in parsed if item.line > self.emitted_through]
        if not fresh:
            return
        await self._hold()
        dataset = self.parser.dataset if self.parser else None
        if dataset is None:
            msg = "the parser yielded a row before it recognised the dataset"
            raise RuntimeError(msg)
        await self._ready(dataset)
        head, middle = self._envelope(dataset)
        kept = fresh if self.frontier is None else self.frontier.unseen(fresh)
        rows = [(r.key, b"%b%d%b%b}" % (head, r.line, middle, r.row_json)) for r in kept if isinstance(r, ValidRow)]
        letters = [self._letter(item, dataset) for item in kept if isinstance(item, RejectedRow)]
        if rows:
            await self._send(dataset.topic, rows)
        if letters:
            await self._send(self.context.letters.topic, [DeadLetterWriter.record(x) for x in letters])
        self._keep_reasons(fresh)
        self._count(dataset, len(rows), len(letters))
        self.emitted_through = fresh[-1].line
        self.in_window += len(fresh)
        if self.in_window >= self.context.policy.window:
            await self.settle()

    def _count(self, dataset: Dataset, rows: int, letters: int) -> None:
        stats = self.context.stats
        stats.rows_emitted += rows
        stats.rows_rejected += letters
        stats.dead_letters += letters
        stats.emitted(dataset.name, rows, letters)
        self.context.policy.faults.hit("split", rows)

    async def _ready(self, dataset: Dataset) -> None:
        """Before the first record: a resumed pass learns what already landed; a new one checkpoints its start."""
        if self.checkpoint is None:
            offsets = {t: await self.context.end_offsets(t) for t in (dataset.topic, self.context.letters.topic)}
            await self._save(Checkpoint(line=0, offsets=offsets))
            self.frontier = Frontier.nothing()  # this attempt's own records are the only ones: nothing to scan
        elif self.frontier is None and self.checkpoint.offsets:
            self.frontier = await Frontier.read(self.context, self.event, self.checkpoint, dataset)

    def _keep_reasons(self, fresh: list[Parsed]) -> None:
        for item in fresh:
            if isinstance(item, RejectedRow) and self.rejects_kept < MAX_REJECTS_PER_FILE:
                reason = Reject(line=item.line, stage="split", error_class=item.error_class, errors=item.errors)
                self.rejects.append(reason)
                self.rejects_kept += 1

    def _envelope(self, dataset: Dataset) -> tuple[bytes, bytes]:
        """The bytes around each row's JSON in this file's row events (one provenance, one dataset)."""
        if self.envelope is None:
            e = self.event
            provenance = Provenance(
                bucket=e.bucket, key=e.key, version=e.version, line=1, event_time=e.event_time, sequencer=e.sequencer
            )
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
        delivery = await self.context.producer.send(topic, items)
        if delivery.error is not None:  # some batches never left: settle what did, then send the rest again
            await self._confirm(topic, items, delivery)
            return
        self.pending.append((topic, items, delivery))

    async def _hold(self) -> None:
        """Before handing more records over, the claim must still be this split's: a worker paused past its lease
        asks the ledger first, so a stale worker stops (ClaimLost) instead of producing the file a second time."""
        if self.lost is not None:
            raise self.lost
        if time.monotonic() - self.beat_at > self.context.policy.lease / 2:
            await self.context.retry(lambda: self.context.ledger.heartbeat(self.fence), "heartbeat")
            self.beat_at = time.monotonic()

    async def settle(self) -> None:
        """Wait until everything handed over is acknowledged (the file's window), then checkpoint it."""
        pending, self.pending, self.in_window = self.pending, [], 0
        try:
            for topic, items, delivery in pending:
                await self._confirm(topic, items, delivery)
        finally:
            for _, _, delivery in pending:
                delivery.abandon()
        await self._flush_rejects()
        if self.checkpoint is not None and pending:
            await self._save(advance(self.checkpoint, self.emitted_through, [d for _, _, d in pending]))

    async def _flush_rejects(self) -> None:
        rejects, self.rejects = self.rejects, []
        if rejects:
            await self.context.retry(lambda: self.context.ledger.record_rejects(self.fence, rejects), "ledger rejects")

    async def _save(self, checkpoint: Checkpoint) -> None:
        await self.context.retry(lambda: self.context.ledger.checkpoint(self.fence, checkpoint), "checkpoint")
        self.checkpoint = checkpoint
        self.beat_at = time.monotonic()

    async def _confirm(self, topic: str, items: Sequence[Item], delivery: Delivery) -> None:
        producer = self.context.producer
        await confirm(
            delivery,
            items,
            lambda again: producer.send(topic, again),
            patience=producer.ack_timeout,
            backoff=self.context.backoff(),
            what=f"s3://{self.event.bucket}/{self.event.key} -> {topic}",
        )

    async def _beat(self) -> None:
        """The claim's heartbeat while the split runs, whatever it waits for (Kafka acks, S3, the database)."""
        interval = max(0.5, self.context.policy.lease / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.context.ledger.heartbeat(self.fence)
                self.beat_at = time.monotonic()
            except TransientError:  # a lapsed beat only lets another worker take over
                continue
            except ClaimLost as exc:  # the split stops at its next step (see _hold)
                self.lost = exc
                return

    def stop_heartbeat(self) -> None:
        self._heartbeat.cancel()
