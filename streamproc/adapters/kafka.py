"""Kafka adapter: idempotent topic creation, an acks=all idempotent producer, a manual-commit consumer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    ProducerClosed,
    TopicAlreadyExistsError,
    for_code,
)

from streamproc.settings import KafkaConnection, TopicSettings

logger = logging.getLogger(__name__)

# Errors aiokafka marks non-retriable although they mean "the cluster is not there right now".
_UNAVAILABLE = (KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable, ProducerClosed, OSError, TimeoutError)


class KafkaAdapterError(Exception):
    """A Kafka operation failed; `retriable` says whether trying again can help."""

    retriable = False


class KafkaUnavailable(KafkaAdapterError):
    """Brokers unreachable, timed out, leader moving: retry with backoff."""

    retriable = True


class KafkaRejected(KafkaAdapterError):
    """The cluster refused the request itself (authorization, size, bad config): retrying will not help."""


def translate(exc: BaseException) -> KafkaAdapterError:
    """The project's error for an aiokafka (or socket) error; its message names only the error class."""
    if isinstance(exc, KafkaAdapterError):
        return exc
    text = str(exc) or type(exc).__name__
    if isinstance(exc, _UNAVAILABLE) or getattr(exc, "retriable", False):
        return KafkaUnavailable(f"Kafka unavailable: {text}")
    return KafkaRejected(f"Kafka rejected the request: {text}")


@dataclass(frozen=True, kw_only=True)
class TopicSpec:
    """One topic as the project declares it."""

    name: str
    partitions: int
    replication: int
    config: Mapping[str, str] = field(default_factory=dict)


def project_topics(topics: TopicSettings) -> tuple[TopicSpec, ...]:
    """The topics the bridge writes: object events and dead letters, with their retention."""
    config = {"retention.ms": str(topics.retention_ms)}
    return tuple(
        TopicSpec(name=name, partitions=topics.partitions, replication=topics.replication, config=config)
        for name in (topics.objects, topics.deadletter)
    )


async def ensure_topics(conn: KafkaConnection, specs: Iterable[TopicSpec], timeout_ms: int = 30_000) -> list[str]:
    """Create the topics that do not exist yet; returns the names created. Safe to run concurrently."""
    wanted = {spec.name: spec for spec in specs}
    admin = AIOKafkaAdminClient(**conn.client_kwargs(), request_timeout_ms=timeout_ms)
    try:
        await admin.start()
        missing = [spec for name, spec in wanted.items() if name not in set(await admin.list_topics())]
        if not missing:
            return []
        new = [
            NewTopic(
                name=spec.name,
                num_partitions=spec.partitions,
                replication_factor=spec.replication,
                topic_configs=dict(spec.config),
            )
            for spec in missing
        ]
        response = await admin.create_topics(new, timeout_ms=timeout_ms)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise translate(exc) from exc
    finally:
        await admin.close()
    return _created(response.topic_errors)


def _created(topic_errors: Sequence[Sequence[Any]]) -> list[str]:
    created = []
    for topic, code, message in (tuple(entry)[:3] for entry in topic_errors):
        error = for_code(code)
        if code == 0:
            created.append(topic)
            logger.info("created topic %s", topic)
        elif error is not TopicAlreadyExistsError:  # another process won the race: fine
            raise translate(error(message))
    return created


def new_producer(conn: KafkaConnection, *, request_timeout_ms: int = 30_000, linger_ms: int = 5) -> AIOKafkaProducer:
    """An unstarted producer that waits for every in-sync replica and never duplicates on retry."""
    return AIOKafkaProducer(
        **conn.client_kwargs(),
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=request_timeout_ms,
        linger_ms=linger_ms,
    )


@dataclass(frozen=True, kw_only=True)
class OutRecord:
    """One record to produce."""

    topic: str
    key: bytes
    value: bytes


class Producer:
    """An idempotent acks=all producer; started in start(), errors translated, waits bounded.

    aiokafka's idempotent producer never expires a batch: it retries until the cluster takes it.
    So callers get a verdict after `ack_timeout` (unacknowledged = failed, though it may still land
    later), and stop() gives up on undeliverable batches after `ack_timeout` instead of hanging.
    """

    def __init__(self, conn: KafkaConnection, *, ack_timeout: float = 30.0, linger_ms: int = 5) -> None:
        self._conn = conn
        self._ack_timeout = ack_timeout
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = new_producer(self._conn, request_timeout_ms=int(self._ack_timeout * 1000), linger_ms=self._linger_ms)
        try:
            await producer.start()
        except (KafkaError, OSError, TimeoutError) as exc:
            await producer.stop()
            raise translate(exc) from exc
        except asyncio.CancelledError:
            await producer.stop()
            raise
        self._producer = producer

    async def probe(self) -> None:
        """Raise KafkaUnavailable unless the cluster answers a metadata request now."""
        await ensure_topics(self._conn, ())

    async def stop(self) -> None:
        """Flush and close; batches still unacknowledged after ack_timeout are failed, not waited for."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        closing = asyncio.ensure_future(producer.stop())
        done, _ = await asyncio.wait([closing], timeout=self._ack_timeout)
        if done:
            return
        logger.warning(
            "Kafka producer could not flush within %.0fs: abandoning unacknowledged records", self._ack_timeout
        )
        _end_sender(producer)
        await closing

    async def send_all(self, records: Sequence[OutRecord]) -> list[KafkaAdapterError | None]:
        """Produce every record and wait for every ack; per record None (acknowledged) or the error."""
        if self._producer is None:
            return [KafkaUnavailable("producer not started")] * len(records)
        futures: list[asyncio.Future[Any]] = []
        failure: KafkaAdapterError | None = None
        for record in records:
            try:
                futures.append(await self._producer.send(record.topic, record.value, key=record.key))
            except (KafkaError, OSError, TimeoutError) as exc:
                failure = translate(exc)
                break  # later records of this batch are not sent, so their messages stay in SQS
        if futures:
            await asyncio.wait(futures, timeout=self._ack_timeout)
        results = [_verdict(future, self._ack_timeout) for future in futures]
        return results + [failure or KafkaUnavailable("not sent")] * (len(records) - len(results))


def _end_sender(producer: AIOKafkaProducer) -> None:
    """Let stop() finish on an unreachable cluster: end the sender task that retries forever.

    aiokafka has no public API for this. stop() waits for the accumulator to drain OR the sender
    task to end; cancelling the task ends it after one more attempt per in-flight request.
    """
    task = getattr(getattr(producer, "_sender", None), "sender_task", None)
    if task is not None and not task.done():
        task.cancel()


def _verdict(future: asyncio.Future[Any], timeout: float) -> KafkaAdapterError | None:
    if not future.done():
        future.add_done_callback(_retrieve)  # it may still land; nobody waits for it any more
        return KafkaUnavailable(f"Kafka unavailable: no acknowledgement within {timeout:.0f}s")
    if future.cancelled():
        return KafkaUnavailable("Kafka unavailable: produce cancelled")
    error = future.exception()
    return None if error is None else translate(error)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


@dataclass(frozen=True, kw_only=True)
class InRecord:
    """One consumed record and where it came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class BatchConsumer:
    """A consumer in its own group with manual commits: the caller commits what it finished."""

    def __init__(self, conn: KafkaConnection, topic: str, group_id: str) -> None:
        self._conn = conn
        self._topic = topic
        self._group_id = group_id
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            self._topic,
            **self._conn.client_kwargs(),
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        try:
            await consumer.start()
        except (KafkaError, OSError, TimeoutError) as exc:
            await consumer.stop()
            raise translate(exc) from exc
        except asyncio.CancelledError:
            await consumer.stop()
            raise
        self._consumer = consumer

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            msg = "consumer not started"
            raise KafkaUnavailable(msg)
        return self._consumer

    async def fetch(self, timeout_ms: int, max_records: int) -> list[InRecord]:
        """Up to max_records records, in offset order per partition; [] when none arrived in time."""
        try:
            batches = await self._started().getmany(timeout_ms=timeout_ms, max_records=max_records)
        except KafkaError as exc:
            raise translate(exc) from exc
        return [
            InRecord(topic=r.topic, partition=r.partition, offset=r.offset, key=r.key, value=r.value)
            for records in batches.values()
            for r in records
        ]

    async def commit(self, records: Iterable[InRecord]) -> None:
        """Commit the offset after the last of `records` in each partition."""
        consumer = self._started()
        offsets: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            raise translate(exc) from exc
