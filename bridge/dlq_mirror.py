"""DLQ mirror: Kafka dead letters → SQS DLQ in batches; offsets committed only after SQS accepted all."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass

from bridge.messages import DlqMessage, batches, dlq_message
from bridge.relay import bridge_topics
from bridge.settings import BridgeSettings
from bridge.sqs import QueueError, Sqs
from streamproc.shared.kafka import (
    BatchConsumer,
    CommitRejected,
    KafkaRejected,
    KafkaUnavailable,
    Record,
    ensure_topics,
)
from streamproc.shared.kafka.consumer import next_offsets
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

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class DlqMirror:
    """One consumer in its own group; a fetched batch is sent, retried until accepted, then committed."""

    def __init__(self, settings: BridgeSettings) -> None:
        self.settings = settings
        self.stats = MirrorStats()
        self._sqs = Sqs(settings.aws)
        self._consumer = BatchConsumer(
            settings.kafka, [settings.topics.deadletter], settings.dlq_group, max_records=settings.dlq_max_records
        )
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

    async def _deliver(self, url: str, records: list[Record]) -> bool:
        """Send every record's message, retrying refused ones with capped backoff; False if stopped first."""
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
        backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_cap)
        while True:
            failed: list[int] = []
            for group in batches([messages[i].size for i in pending]):
                chosen = [pending[g] for g in group]
                failed += await self._send(url, chosen, messages, records)
            pending = failed
            if not pending:
                return True
            delay = backoff.next()
            logger.warning("dlq-mirror: %d message(s) not accepted; next try in %.1fs", len(pending), delay)
            if await sleep_unless(self._stopping, delay):
                return False

    async def _send(self, url: str, chosen: list[int], messages: list[DlqMessage], records: list[Record]) -> list[int]:
        """One SendMessageBatch; returns the indexes (into records) SQS did not accept."""
        try:
            refused = await self._sqs.send(url, [messages[i] for i in chosen])
        except QueueError as exc:
            self.stats.errors += 1
            logger.warning("dlq-mirror: send of %d message(s) failed: %s", len(chosen), exc)
            return chosen
        failed = [chosen[f.index] for f in refused]
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
        refused_set = set(failed)
        accepted = [i for i in chosen if i not in refused_set]
        self.stats.sent += len(accepted)
        self.stats.truncated += sum(messages[i].truncated for i in accepted)
        return failed

    async def _commit(self, records: list[Record]) -> None:
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
