"""Hand-written fakes of the worker's ports (object store, ledger, producer, record source, sink store)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamproc.contract.events import ObjectEvent
from streamproc.datasets.model import Dataset
from streamproc.ingest.ledger import (
    COMPLETED,
    FAILED,
    HELD,
    PARTIAL,
    PROCESSING,
    RECEIVED,
    RELEASING,
    Checkpoint,
    Claim,
    ClaimLost,
    Fence,
    Held,
    Judgement,
    LoadBatch,
    Reject,
    RowRef,
    SenderHold,
    SplitCounts,
    claim_verdict,
)
from streamproc.ingest.ports import ObjectSuperseded
from streamproc.shared.delivery import Delivery
from streamproc.shared.errors import StreamprocError, TerminalError, TransientError
from streamproc.shared.records import TopicPart


class Unavailable(TransientError):
    """The fake service is away for now."""


class Refused(TerminalError):
    """The fake service refuses this for good."""


def _as_ours(exc: BaseException) -> StreamprocError:
    return exc if isinstance(exc, StreamprocError) else Refused(type(exc).__name__)


class FakeStore:
    """Objects in memory, served in chunks; `breaks` makes the stream fail transiently after that many chunks."""

    def __init__(self, chunk_size: int = 64) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.etags: dict[tuple[str, str], str] = {}  # an object's ETag, when a test overwrites a key
        self.chunk_size = chunk_size
        self.breaks: list[int] = []  # for each coming read: fail after this many chunks
        self.stall_after: int | None = None  # the next read hangs after this many chunks (a worker to kill)
        self.stalled = asyncio.Event()
        self.reads = 0

    async def small(self, bucket: str, key: str) -> bytes | None:
        return self.objects.get((bucket, key))

    async def chunks(
        self, bucket: str, key: str, version_id: str | None, etag: str | None = None
    ) -> AsyncIterator[bytes]:
        self.reads += 1
        held = self.etags.get((bucket, key))
        if etag is not None and held is not None and held != etag:
            msg = "the key was overwritten: the notified version's bytes are gone (ETag differs)"
            raise ObjectSuperseded(msg)
        body = self.objects[(bucket, key)]
        fail_after = self.breaks.pop(0) if self.breaks else None
        stall_after, self.stall_after = self.stall_after, None
        for n, start in enumerate(range(0, len(body), self.chunk_size)):
            if fail_after is not None and n == fail_after:
                msg = "S3 unavailable: connection reset"
                raise Unavailable(msg)
            if stall_after is not None and n == stall_after:
                self.stalled.set()
                await asyncio.Event().wait()  # forever: the test cancels the split here
            yield body[start : start + self.chunk_size]


@dataclass
class FakeLedger:
    """Records what the fan-out told the ledger; `unavailable` fails the next calls transiently.

    Claims follow the real rule (`ledger.claim_verdict`) over the statuses this fake keeps per version.
    """

    begun: list[ObjectEvent] = field(default_factory=list)
    status: dict[tuple[str, str, str], tuple[str, bool]] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    duplicates: int = 0
    checkpoints: dict[tuple[str, str, str], Checkpoint] = field(default_factory=dict)
    beats: int = 0
    released: list[int] = field(default_factory=list)
    finished: list[SplitCounts] = field(default_factory=list)
    held: list[tuple[Held, SplitCounts]] = field(default_factory=list)
    held_events: list[tuple[str, str, str]] = field(default_factory=list)  # the version of each entry of `held`
    awaiting: list[tuple[str, str, str]] = field(default_factory=list)  # each time a version went AWAITING_MANIFEST
    failed: list[tuple[str, SplitCounts]] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    epochs: dict[int, int] = field(default_factory=dict)  # file id -> the epoch of its latest claim
    fenced_out: int = (
        0  # writes refused because their claim's epoch was stale  # the status of each fail_file: FAILED or SUPERSEDED
    )
    unavailable: int = 0
    broken: BaseException | None = None
    holds: tuple[SenderHold, ...] = ()  # sender holds in force (the claim passes on those the key's prefix matches)
    judged: dict[tuple[str, str, str], str] = field(default_factory=dict)  # version -> its judged SHA-256
    releases: set[tuple[str, str, str]] = field(default_factory=set)  # versions an operator released
    contents: dict[tuple[str, str], str] = field(default_factory=dict)  # (dataset, SHA-256) -> the file loaded
    judgements: list[Judgement] = field(default_factory=list)
    waited: float = 0.0  # what every claim says about how long its version has waited

    def release_held(self, event: ObjectEvent) -> None:
        """An operator releases the HELD version (what `python -m streamproc release` writes)."""
        version = (event.bucket, event.key, event.version)
        (held, _), *_ = [h for h, e in zip(self.held, self.held_events, strict=True) if e == version]
        self.status[version] = (RELEASING, False)
        self.judged[version] = held.sha256
        self.releases.add(version)

    def _call(self) -> None:
        if self.broken is not None:
            raise self.broken
        if self.unavailable:
            self.unavailable -= 1
            msg = "database unavailable: OperationalError"
            raise Unavailable(msg)

    async def claim(self, event: ObjectEvent, owner: str, lease: float) -> Claim:
        self._call()
        version = (event.bucket, event.key, event.version)
        status, split_done = self.status.get(version, (RECEIVED, False))
        skipped = claim_verdict(status, split_done, forced=event.forced)
        if skipped is not None:
            self.duplicates += 1
            return Claim(file_id=0, attempt=0, skipped=skipped)
        self.begun.append(event)
        self.status[version] = (PROCESSING, False)
        resume = self.checkpoints.get(version) if status == PROCESSING and not event.forced else None
        self.epochs[len(self.begun)] = epoch = self.epochs.get(len(self.begun), 0) + 1
        judged = self.judged.get(version)
        letters_out = version in self.releases and status in (RELEASING, PROCESSING)
        holds = () if judged else tuple(h for h in self.holds if h.prefix is None or event.key.startswith(h.prefix))
        return Claim(
            file_id=len(self.begun), attempt=1, resume=resume, epoch=epoch, judged=judged, letters_out=letters_out,
            holds=holds, waited=self.waited,
        )  # fmt: skip

    async def judge(self, fence: Fence, verdict: Judgement) -> str | None:
        self._call()
        self._fenced(fence)
        self.judgements.append(verdict)
        event = self.begun[fence.file_id - 1]
        here = f"s3://{event.bucket}/{event.key}"
        first = self.contents.get((verdict.dataset, verdict.sha256))
        if verdict.duplicates and first is not None and first != here:
            return first
        if verdict.passes:
            self.contents.setdefault((verdict.dataset, verdict.sha256), here)
            self.judged[(event.bucket, event.key, event.version)] = verdict.sha256
        return None

    def take_over(self, file_id: int) -> None:
        """Another worker claims the file (this one was paused past its lease): the split's fence is stale."""
        self.epochs[file_id] += 1

    def _fenced(self, fence: Fence) -> None:
        if self.epochs.get(fence.file_id) != fence.epoch:
            self.fenced_out += 1
            msg = f"file {fence.file_id}: claim epoch {fence.epoch} was taken over by another worker"
            raise ClaimLost(msg)

    async def checkpoint(self, fence: Fence, at: Checkpoint) -> None:
        self._call()
        self._fenced(fence)
        event = self.begun[fence.file_id - 1]
        self.checkpoints[(event.bucket, event.key, event.version)] = at

    async def heartbeat(self, fence: Fence) -> None:
        self._fenced(fence)
        self.beats += 1

    async def release(self, fence: Fence) -> None:
        self.released.append(fence.file_id)

    async def record_rejects(self, fence: Fence, rejects: Sequence[Reject]) -> None:
        self._call()
        self._fenced(fence)
        self.rejects.extend(rejects)

    async def finish_split(self, fence: Fence, counts: SplitCounts) -> str:
        self._call()
        self._fenced(fence)
        self.finished.append(counts)
        status = PARTIAL if counts.rows_rejected else COMPLETED
        event = self.begun[fence.file_id - 1]
        self.status[(event.bucket, event.key, event.version)] = (status, True)
        return status

    async def fail_file(self, fence: Fence, reason: str, counts: SplitCounts, status: str = FAILED) -> None:
        self._call()
        self._fenced(fence)
        self.failed.append((reason, counts))
        self.ended.append(status)

    async def hold_file(self, fence: Fence, held: Held, counts: SplitCounts, status: str = HELD) -> None:
        self._call()
        self._fenced(fence)
        event = self.begun[fence.file_id - 1]
        version = (event.bucket, event.key, event.version)
        self.status[version] = (status, True)
        if status != HELD:
            self.awaiting.append(version)
            return
        self.held.append((held, counts))
        self.held_events.append(version)
        self.judged.pop(version, None)
        self.releases.discard(version)


@dataclass(frozen=True)
class Placed:
    """Where a batch landed (what aiokafka's batch futures resolve with)."""

    topic: str
    partition: int
    offset: int


class FakeReader:
    """The topics as the fake producer holds them: one partition each, offsets = positions."""

    def __init__(self, producer: FakeProducer, page: int = 1000) -> None:
        self.producer = producer
        self.page = page
        self.pages: list[int] = []  # the size of each page handed out
        self.breaks = 0

    async def end_offsets(self, topic: str) -> dict[int, int]:
        return {0: len(self.producer.records(topic))}

    async def read(
        self, topic: str, since: Mapping[int, int], until: Mapping[int, int]
    ) -> AsyncIterator[list[tuple[int, int, bytes]]]:
        records = self.producer.records(topic)[: until.get(0, 0)]
        start = since.get(0, 0)
        for begin in range(start, len(records), self.page):
            page = [(0, begin + n, value) for n, (_, value) in enumerate(records[begin : begin + self.page])]
            self.pages.append(len(page))
            if self.breaks:  # the scan breaks here once (a broker away): the retry goes on from this page
                self.breaks -= 1
                msg = "Kafka unavailable: KafkaConnectionError"
                raise Unavailable(msg)
            yield page


class FakeProducer:
    """Acknowledges what it is handed, per topic, in order. Knobs: hand over only a prefix, refuse, or hold acks."""

    ack_timeout = 0.05

    def __init__(self) -> None:
        self.sent: dict[str, list[tuple[bytes, bytes]]] = {}
        self.handover_limit: list[int] = []  # for each coming send: hand over at most this many records
        self.refuse_topic: str | None = None
        self.held: list[asyncio.Future[Any]] = []  # acks not given yet, while `hold` is set
        self.hold = False

    def records(self, topic: str) -> list[tuple[bytes, bytes]]:
        return self.sent.get(topic, [])

    async def send(self, topic: str, items: Iterable[tuple[bytes, bytes]]) -> Delivery:
        items = list(items)
        delivery = Delivery(_as_ours)
        limit = self.handover_limit.pop(0) if self.handover_limit else len(items)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        base = len(self.sent.get(topic, []))
        if topic == self.refuse_topic:
            future.set_exception(Refused("Kafka refused the request: TopicAuthorizationFailedError"))
        elif self.hold:
            self.held.append(future)
        else:
            future.set_result(Placed(topic=topic, partition=0, offset=base))
        if limit:
            delivery.batches[0] = future
            self.sent.setdefault(topic, []).extend(items[:limit])
        delivery.batch_of.extend([0] * limit + [1] * (len(items) - limit))
        if limit < len(items):
            delivery.error = Unavailable("Kafka unavailable: KafkaConnectionError")
        return delivery

    def release(self) -> None:
        self.hold = False
        for future in self.held:
            future.set_result(None)
        self.held.clear()


@dataclass(frozen=True)
class FakeRecord:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None


class FakeSource:
    """A topic's records handed out in fetches of at most max_records; commits recorded."""

    def __init__(self, records: Sequence[FakeRecord], *, commit_error: StreamprocError | None = None) -> None:
        self.waiting = list(records)
        self.commits: list[dict[TopicPart, int]] = []
        self.commit_error = commit_error
        self.started = self.stopped = False

    def factory(self, **_hooks: Callable[..., Any]) -> FakeSource:
        return self

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def fetch(self, timeout_ms: int, max_records: int | None = None) -> Sequence[FakeRecord]:
        await asyncio.sleep(0)
        if not self.waiting:
            await asyncio.sleep(min(timeout_ms, 20) / 1000)
            return []
        count = max_records or len(self.waiting)
        batch, self.waiting = self.waiting[:count], self.waiting[count:]
        return batch

    async def commit(self, offsets: Mapping[TopicPart, int]) -> None:
        if self.commit_error is not None:
            raise self.commit_error
        self.commits.append(dict(offsets))

    def assignment(self) -> set[TopicPart]:
        return set()

    def highwater(self, where: TopicPart) -> int | None:
        return None


@dataclass
class FakeSinkStore:
    """Rows the sink wrote; `unavailable` fails the next writes transiently; `refuse` marks rows the DB rejects."""

    rows: list[Sequence[Any]] = field(default_factory=list)
    rejected: list[RowRef] = field(default_factory=list)
    batches: list[LoadBatch] = field(default_factory=list)
    writes: int = 0
    unavailable: int = 0
    refuse: Callable[[Sequence[Any]], bool] = lambda _row: False

    async def write_batch(self, dataset: Dataset, batch: LoadBatch) -> None:
        self.writes += 1
        if self.unavailable:
            self.unavailable -= 1
            msg = "database unavailable: OperationalError"
            raise Unavailable(msg)
        if any(self.refuse(row) for row in batch.rows):
            msg = "the database refused the data: NumericValueOutOfRange (SQLSTATE 22003)"
            raise Refused(msg)
        self.rows.extend(batch.rows)
        self.batches.append(batch)

    async def record_rejected(self, dataset: Dataset, topic: str, refs: Sequence[RowRef]) -> None:
        self.rejected.extend(refs)


FINAL_STATUSES = (COMPLETED, PARTIAL, FAILED)


async def until(done: Callable[[], bool], limit: float = 5.0) -> None:
    """Return once `done()` holds, polling the fakes' counters; fail the test after `limit` seconds."""
    async with asyncio.timeout(limit):
        while True:
            if done():
                return
            await asyncio.sleep(0.002)
