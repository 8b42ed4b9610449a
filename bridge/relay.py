"""SQS → Kafka relay: long-poll, produce every event, wait for every ack, then batch-delete."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass

from bridge.messages import encode
from bridge.notifications import DecodedBody, bridge_dead_letter, decode_body
from bridge.ports import ProducerPort, QueuePort
from bridge.settings import BridgeSettings
from bridge.sqs import QueueError, Received
from bridge.visibility import MIN_VISIBILITY, VisibilityStats, held, usable
from streamproc.kafka.admin import TopicSpec, ensure_topics, topic_specs
from streamproc.kafka.errors import KafkaRejected, KafkaUnavailable
from streamproc.kafka.producer import OutRecord
from streamproc.shared.delivery import Verdict
from streamproc.shared.errors import StreamprocError
from streamproc.shared.faults import Faults
from streamproc.shared.retry import Backoff, sleep_unless, wait_either

logger = logging.getLogger(__name__)


def bridge_topics(settings: BridgeSettings) -> list[TopicSpec]:
    """The topics the bridge writes and reads: object events and dead letters."""
    return topic_specs(settings.topics, (settings.topics.objects, settings.topics.deadletter))


@dataclass
class RelayStats:
    """Counters since start; read by the periodic log line (and later the stats page)."""

    received: int = 0  # SQS messages received, redeliveries included
    produced: int = 0  # object events Kafka acknowledged
    test_events: int = 0  # s3:TestEvent messages deleted
    ignored: int = 0  # records of other event types (ObjectRemoved, ...) in deleted messages
    dead_lettered: int = 0  # dead letters Kafka acknowledged
    deleted: int = 0  # SQS messages deleted
    errors: int = 0  # failed SQS or Kafka calls (each one retried or left for redelivery)

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class _Plan:
    """One received message and the records it turns into."""

    message: Received
    decoded: DecodedBody
    records: tuple[OutRecord, ...]


class Relay:
    """Runs `pollers` receive loops over one idempotent producer until stop() is called (bridge.bootstrap
    builds it with the real SQS client and Kafka producer)."""

    def __init__(self, settings: BridgeSettings, *, sqs: QueuePort, producer: ProducerPort) -> None:
        self.settings = settings
        self.stats = RelayStats()
        self.visibility = VisibilityStats()
        self._sqs = sqs
        self._producer = producer
        self._faults = Faults.parse(settings.faults)
        self._stopping = asyncio.Event()
        self._kafka_ok = asyncio.Event()  # cleared while Kafka is unreachable: nobody receives from SQS
        self._idle = asyncio.Event()  # set while no poller is between receive and delete
        self._idle.set()
        self._busy = 0
        self._recovery: asyncio.Task[None] | None = None
        self._crash: BaseException | None = None
        self.hidden_for = settings.visibility_timeout or MIN_VISIBILITY  # the queue's own, once read at start

    def stop(self) -> None:
        """Ask every loop to finish its in-flight batch and return."""
        self._stopping.set()

    @property
    def kafka_available(self) -> bool:
        return self._kafka_ok.is_set()

    async def wait_connected(self) -> None:
        """Return once the relay reaches Kafka (or is stopping)."""
        await wait_either(self._kafka_ok, self._stopping)

    @property
    def receiving(self) -> bool:
        """False once a Kafka outage has paused every poller (none is between receive and delete)."""
        return self._kafka_ok.is_set() or self._busy > 0

    async def run(self) -> None:
        """Relay until stop(); returns after the in-flight batches finished (deleted or left in SQS)."""
        await self._sqs.start()
        stats_task = asyncio.create_task(self._log_stats_periodically())
        try:
            url = await self._resolve_queue()
            if url is not None and await self._reach_kafka(start_producer=True):
                self._kafka_ok.set()
                logger.info("relay: polling %s with %d poller(s)", self.settings.queue.label, self.settings.pollers)
                async with asyncio.TaskGroup() as pollers:  # a poller's bug cancels its siblings, not orphans them
                    for _ in range(self.settings.pollers):
                        pollers.create_task(self._poll(url))
            if self._crash is not None:
                raise self._crash
        finally:
            self._stopping.set()
            stats_task.cancel()
            # The recovery task returns promptly once stopping: its retry loop checks the flag.
            await asyncio.gather(stats_task, *[t for t in (self._recovery,) if t], return_exceptions=True)
            await self._producer.stop()
            await self._sqs.stop()
            logger.info("relay stopped: %s", self._stats_line())

    async def _resolve_queue(self) -> str | None:
        backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_cap)
        while not self._stopping.is_set():
            try:
                url = await self._sqs.resolve(self.settings.queue)
                if self.settings.visibility_timeout is None:
                    self.hidden_for = usable(await self._sqs.visibility_timeout(url), self.settings.queue.label)
            except QueueError as exc:
                self.stats.errors += 1
                logger.warning("relay: cannot resolve or read queue %s: %s", self.settings.queue.label, exc)
                await sleep_unless(self._stopping, backoff.next())
            else:
                return url
        return None

    async def _reach_kafka(self, *, start_producer: bool) -> bool:
        """Retry with capped backoff until Kafka answers: on first contact create missing topics and
        start the producer, later just probe; False if told to stop first."""
        backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_cap)
        while not self._stopping.is_set():
            try:
                if start_producer and self.settings.create_topics:
                    await ensure_topics(self.settings.kafka, bridge_topics(self.settings))
                await (self._producer.start() if start_producer else self._producer.probe())
            except (KafkaUnavailable, KafkaRejected) as exc:
                self.stats.errors += 1
                delay = backoff.next()
                logger.warning("relay: cannot use Kafka (%s); next try in %.1fs", exc, delay)
                await sleep_unless(self._stopping, delay)
            else:
                return True
        return False

    async def _poll(self, url: str) -> None:
        backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_cap)
        while not self._stopping.is_set():
            if not self._kafka_ok.is_set():
                await wait_either(self._kafka_ok, self._stopping)
                continue
            self._enter()
            try:
                messages = await self._sqs.receive(
                    url,
                    max_messages=self.settings.max_messages,
                    wait_seconds=self.settings.wait_seconds,
                    visibility_timeout=self.hidden_for,
                )
                self.stats.received += len(messages)
                if messages:
                    await self._relay(url, messages)
                backoff.reset()
            except QueueError as exc:
                self.stats.errors += 1
                delay = backoff.next()
                log = logger.warning if exc.retriable else logger.error
                log("relay: SQS call failed (%s); next try in %.1fs", exc, delay)
                await sleep_unless(self._stopping, delay)
            finally:
                self._leave()

    def _enter(self) -> None:
        self._busy += 1
        self._idle.clear()

    def _leave(self) -> None:
        self._busy -= 1
        if self._busy == 0:
            self._idle.set()

    async def _relay(self, url: str, messages: list[Received]) -> None:
        """Produce, then delete what was produced; the batch stays invisible in SQS until then."""
        async with held(self._sqs, url, messages, hidden_for=self.hidden_for, stats=self.visibility) as lease:
            plans = [self._plan(m) for m in messages]
            done = await self._produce(plans)
            lease.release(p.message.message_id for p in plans if p not in done)  # given up: back after its timeout
            await self._delete(url, done)

    async def _produce(self, plans: list[_Plan]) -> list[_Plan]:
        """Send every record of the batch; the plans whose records were all acknowledged."""
        records = [r for p in plans for r in p.records]
        results = iter(await self._producer.send_all(records) if records else [])
        done: list[_Plan] = []
        failure: Verdict = None
        for plan in plans:
            mine = [next(results) for _ in plan.records]
            events = len(plan.decoded.events)  # a plan's event records come before its dead letters
            self.stats.produced += sum(r is None for r in mine[:events])
            self.stats.dead_lettered += sum(r is None for r in mine[events:])
            errors = [r for r in mine if r is not None]
            if errors:
                failure = failure or errors[0]
            else:
                done.append(plan)
        if failure is not None:
            self.stats.errors += 1
            self._kafka_failed(failure, len(plans) - len(done))
        return done

    def _plan(self, message: Received) -> _Plan:
        decoded = decode_body(message.body)
        topics = self.settings.topics
        records = [OutRecord(topic=topics.objects, key=e.message_key.encode(), value=encode(e)) for e in decoded.events]
        for failure in decoded.failures:
            letter = bridge_dead_letter(failure, queue=self.settings.queue.label, message_id=message.message_id)
            records.append(OutRecord(topic=topics.deadletter, key=letter.message_key.encode(), value=encode(letter)))
            logger.warning("relay: message %s is dead-lettered: %s", message.message_id, failure.reason[:200])
        if message.receive_count > 1:
            logger.info("relay: message %s received %d times", message.message_id, message.receive_count)
        return _Plan(message=message, decoded=decoded, records=tuple(records))

    async def _delete(self, url: str, plans: list[_Plan]) -> None:
        if not plans:
            return
        self._faults.hit("relay-delete", len(plans))  # test-only: die with the events produced, not deleted
        failed = set(await self._sqs.delete(url, [p.message for p in plans]))
        for plan in plans:
            if plan.message.message_id in failed:
                self.stats.errors += 1
                logger.warning("relay: delete of message %s failed; it will be relayed again", plan.message.message_id)
                continue
            self.stats.deleted += 1
            self.stats.test_events += int(plan.decoded.test_event)
            self.stats.ignored += len(plan.decoded.ignored)
            if plan.decoded.test_event:
                logger.info("relay: s3:TestEvent message %s deleted", plan.message.message_id)
            for name in plan.decoded.ignored:
                logger.info("relay: %s record in message %s ignored", name, plan.message.message_id)

    def _kafka_failed(self, error: StreamprocError, kept: int) -> None:
        """Stop receiving until Kafka answers again; messages not deleted return after their visibility timeout."""
        logger.warning("relay: produce failed (%s); %d message(s) left in SQS", error, kept)
        if self._kafka_ok.is_set():
            self._kafka_ok.clear()
            logger.warning("relay: Kafka unavailable: pausing SQS receives")
            self._recovery = asyncio.create_task(self._recover())
            self._recovery.add_done_callback(self._recovery_done)

    def _recovery_done(self, task: asyncio.Task[None]) -> None:
        """A bug in recovery must not leave the relay paused for ever: stop, and let run() raise it."""
        if not task.cancelled() and task.exception() is not None:
            self._crash = task.exception()
            logger.error("relay: recovery failed unexpectedly; stopping", exc_info=self._crash)
            self.stop()

    async def _recover(self) -> None:
        # The producer reconnects by itself (and still delivers what it holds: duplicates, harmless);
        # the probe only decides when receiving is worth it again, once in-flight batches settled.
        await wait_either(self._idle, self._stopping)
        if await self._reach_kafka(start_producer=False):
            logger.info("relay: Kafka reachable again: resuming SQS receives")
            self._kafka_ok.set()

    async def _log_stats_periodically(self) -> None:
        interval = self.settings.stats_interval
        if interval <= 0:
            return
        while not await sleep_unless(self._stopping, interval):
            logger.info("relay: %s", self._stats_line())

    def _stats_line(self) -> str:
        counts = self.stats.as_dict() | {f"visibility_{k}": v for k, v in self.visibility.as_dict().items()}
        return " ".join(f"{name}={value}" for name, value in counts.items())
