"""DLQ mirror: Kafka dead letters → SQS DLQ in batches; offsets committed only after SQS accepted all."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bridge.messages import DlqMessage, batches, dlq_message, dlq_stand_in
from bridge.relay import bridge_topics
from bridge.settings import BridgeSettings, QueueRef
from bridge.sqs import MESSAGE_REFUSALS, QueueError, QueueRejected, QueueUnavailable, SendFailure
from streamproc.kafka.admin import ensure_topics
from streamproc.kafka.errors import CommitRejected, KafkaRejected, KafkaUnavailable
from streamproc.shared.records import ConsumedRecord, TopicPart, next_offsets
from streamproc.shared.retry import Backoff, sleep_unless

logger = logging.getLogger(__name__)

POLL_MS = 1000


@dataclass
class MirrorStats:
    """Counters since start; read by the periodic log line (and later the stats page)."""

    consumed: int = 0  # dead-letter records fetched, refetches included
    sent: int = 0  # messages SQS accepted
    truncated: int = 0  # of those, bodies cut to SQS's size limit (with a marker)
    committed: int = 0  # records whose offsets were committed
    errors: int = 0  # failed SQS or Kafka calls, each retried
    stood_in: int = 0  # dead letters SQS refused for good, replaced by a stand-in pointing at the topic
    abandoned: int = 0  # stand-ins SQS refused too: not mirrored (the dead letter stays on the topic)

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class DlqQueue(Protocol):
    """What the mirror needs of SQS (bridge.sqs.Sqs)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def resolve(self, ref: QueueRef) -> str: ...
    async def send(self, url: str, messages: Sequence[DlqMessage]) -> list[SendFailure]: ...


class LetterSource(Protocol):
    """The dead-letter topic as the mirror reads it: a group member with manual commits (BatchConsumer)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def fetch(self, timeout_ms: int, max_records: int | None = None) -> Sequence[ConsumedRecord]: ...
    async def commit(self, offsets: Mapping[TopicPart, int]) -> None: ...


class DlqMirror:
    """One consumer in its own group; a fetched batch is sent, retried until accepted, then committed
    (bridge.bootstrap builds it with the real SQS client and Kafka consumer)."""

    def __init__(self, settings: BridgeSettings, *, sqs: DlqQueue, consumer: LetterSource) -> None:
        self.settings = settings
        self.stats = MirrorStats()
        self._sqs = sqs
        self._consumer = consumer
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the batch in hand (sent and committed, or left uncommitted) and return."""
        self._stopping.set()

    async def run(self) -> None:
        await self._sqs.start()
        stats_task = asyncio.create_task(self._log_stats_periodically())
        try:
            url = await self._resolve_dlq()
            if url is not None and await self._connect():
                logger.info("dlq-mirror: %s → %s", self.settings.topics.deadletter, self.settings.dlq.label)
                await self._loop(url)
        finally:
            self._stopping.set()
            stats_task.cancel()
            await asyncio.gather(stats_task, return_exceptions=True)
            await self._consumer.stop()
            await self._sqs.stop()
            logger.info("dlq-mirror stopped: %s", self._stats_line())

    async def _resolve_dlq(self) -> str | None:
        backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_cap)
        while not self._stopping.is_set():
            try:
                return await self._sqs.resolve(self.settings.dlq)
            except QueueError as exc:
                self.stats.errors += 1
                logger.warning("dlq-mirror: cannot resolve queue %s: %s", self.settings.dlq.label, exc)
                await sleep_unless(self._stopping, backoff.next())
        return None

    async def _connect(self) -> bool:
        backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_cap)
        while not self._stopping.is_set():
            try:
                if self.settings.create_topics:
                    await ensure_topics(self.settings.kafka, bridge_topics(self.settings))
                await self._consumer.start()
            except (KafkaUnavailable, KafkaRejected) as exc:
                self.stats.errors += 1
                delay = backoff.next()
                logger.warning("dlq-mirror: Kafka not reachable (%s); next try in %.1fs", exc, delay)
                await sleep_unless(self._stopping, delay)
            else:
                return True
        return False

    async def _loop(self, url: str) -> None:
        backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_cap)
        while not self._stopping.is_set():
            try:
                records = await self._consumer.fetch(POLL_MS)
            except (KafkaUnavailable, KafkaRejected) as exc:
                self.stats.errors += 1
                delay = backoff.next()
                logger.warning("dlq-mirror: fetch failed (%s); next try in %.1fs", exc, delay)
                await sleep_unless(self._stopping, delay)
                continue
            backoff.reset()
            if not records:
                continue
            self.stats.consumed += len(records)
            if not await self._deliver(url, records):
                return  # stopping with part of the batch unsent: not committed, so fetched again next time
            await self._commit(records)

    async def _deliver(self, url: str, records: Sequence[ConsumedRecord]) -> bool:
        """Send every record's message; False if stopped first.

        SQS unavailable: retried with capped backoff for as long as it takes (the health view says so). A
        message SQS refuses for its content (size, characters) is tried `dlq_max_attempts` times, then replaced
        by a small stand-in saying where the dead letter stays; a stand-in refused as often is given up on
        (counted and logged): one bad message never holds the dead letters behind it.
        """
        messages = [dlq_message(r.value, topic=r.topic, partition=r.partition, offset=r.offset) for r in records]
        for record, message in zip(records, messages, strict=True):
            if message.truncated:
                logger.warning(
                    "dlq-mirror: %s/%d/%d is over SQS's size limit: body truncated with a marker",
                    record.topic,
                    record.partition,
                    record.offset,
                )
        pending = list(range(len(messages)))
        refusals: dict[int, int] = {}  # index → refusals for its content, since its last replacement
        stood_in: set[int] = set()
        backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_cap)
        while True:
            failed: list[tuple[int, str | None]] = []
            for group in batches([messages[i].size for i in pending]):
                failed += await self._send(url, [pending[g] for g in group], messages, records)
            pending = []
            for index, refusal in failed:
                if refusal is not None:
                    refusals[index] = refusals.get(index, 0) + 1
                    if refusals[index] >= self.settings.dlq_max_attempts:
                        refusals[index] = 0
                        if not self._replace(index, refusal, messages, records, stood_in):
                            continue  # given up on
                pending.append(index)
            if not pending:
                return True
            delay = backoff.next()
            logger.warning("dlq-mirror: %d message(s) not accepted; next try in %.1fs", len(pending), delay)
            if await sleep_unless(self._stopping, delay):
                return False

    def _replace(
        self,
        index: int,
        refusal: str,
        messages: list[DlqMessage],
        records: Sequence[ConsumedRecord],
        stood_in: set[int],
    ) -> bool:
        """Replace a refused message by its stand-in (True: send that), or give up on a refused stand-in."""
        r = records[index]
        if index in stood_in:
            self.stats.abandoned += 1
            logger.error(
                "dlq-mirror: SQS refused the stand-in for %s/%d/%d too (%s): not mirrored; the dead letter stays "
                "on the topic",
                r.topic, r.partition, r.offset, refusal,
            )  # fmt: skip
            return False
        stood_in.add(index)
        messages[index] = dlq_stand_in(
            messages[index], topic=r.topic, partition=r.partition, offset=r.offset, refusal=refusal
        )
        self.stats.stood_in += 1
        logger.error(
            "dlq-mirror: SQS refused %s/%d/%d %d times (%s): sending a stand-in that points at the topic",
            r.topic, r.partition, r.offset, self.settings.dlq_max_attempts, refusal,
        )  # fmt: skip
        return True

    async def _send(
        self, url: str, chosen: list[int], messages: list[DlqMessage], records: Sequence[ConsumedRecord]
    ) -> list[tuple[int, str | None]]:
        """One SendMessageBatch: the indexes (into records) SQS did not accept, each with SQS's code when it
        refused the message's content (sending it again cannot help) or None (worth retrying as is)."""
        try:
            refused = await self._sqs.send(url, [messages[i] for i in chosen])
        except QueueRejected as exc:
            self.stats.errors += 1
            logger.warning("dlq-mirror: send of %d message(s) refused: %s", len(chosen), exc)
            if exc.code not in MESSAGE_REFUSALS:
                return [(i, None) for i in chosen]  # the queue, not a message: retried until its operator acts
            if len(chosen) == 1:
                return [(chosen[0], exc.code)]
            failed: list[tuple[int, str | None]] = []
            for i in chosen:  # one message spoiled the batch: find which, alone
                failed += await self._send(url, [i], messages, records)
            return failed
        except QueueUnavailable as exc:
            self.stats.errors += 1
            logger.warning("dlq-mirror: send of %d message(s) failed: %s", len(chosen), exc)
            return [(i, None) for i in chosen]
        failed = [(chosen[f.index], f.code if f.sender_fault else None) for f in refused]
        for f in refused:
            r = records[chosen[f.index]]
            self.stats.errors += 1
            logger.error(
                "dlq-mirror: SQS refused %s/%d/%d: %s (sender fault: %s)",
                r.topic,
                r.partition,
                r.offset,
                f.code,
                f.sender_fault,
            )
        refused_set = {i for i, _ in failed}
        accepted = [i for i in chosen if i not in refused_set]
        self.stats.sent += len(accepted)
        self.stats.truncated += sum(messages[i].truncated for i in accepted)
        return failed

    async def _commit(self, records: Sequence[ConsumedRecord]) -> None:
        try:
            await self._consumer.commit(next_offsets(records))
        except (CommitRejected, KafkaUnavailable, KafkaRejected) as exc:
            # A rebalance moved the partitions: the new owner mirrors them again (a duplicate, never a gap).
            self.stats.errors += 1
            logger.warning("dlq-mirror: commit of %d record(s) failed: %s", len(records), exc)
        else:
            self.stats.committed += len(records)

    async def _log_stats_periodically(self) -> None:
        interval = self.settings.stats_interval
        if interval <= 0:
            return
        while not await sleep_unless(self._stopping, interval):
            logger.info("dlq-mirror: %s", self._stats_line())

    def _stats_line(self) -> str:
        return " ".join(f"{name}={value}" for name, value in self.stats.as_dict().items())
