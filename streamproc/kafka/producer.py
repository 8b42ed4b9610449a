"""The one producer of both services: idempotent, acks=all, records batched per partition before hand-over.

Batches are built here (`create_batch`/`send_batch`) with Kafka's default key -> partition mapping, which
costs a few µs per record less than aiokafka's per-message `send()`; idempotence still holds, because the
sender stamps producer id and sequence numbers on every batch it drains, however it was queued.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from murmurhash2 import murmurhash2

from streamproc.kafka.admin import ensure_topics
from streamproc.kafka.errors import KafkaRejected, KafkaUnavailable, translate
from streamproc.shared.delivery import Delivery, Verdict
from streamproc.shared.partitioning import MURMUR2_SEED
from streamproc.shared.settings import KafkaConnection

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record to produce."""

    topic: str
    key: bytes
    value: bytes


class Producer:
    """The one producer: idempotent, acks=all, records batched per partition before they are handed over.

    aiokafka's idempotent producer never expires a batch: it retries until the cluster takes it. So
    waits are bounded by the caller (`Delivery.wait(timeout)`), and stop() gives up on undeliverable
    batches after `ack_timeout` instead of hanging.
    """

    def __init__(
        self, conn: KafkaConnection, *, ack_timeout: float = 30.0, linger_ms: int = 5, batch_bytes: int = 512 << 10
    ) -> None:
        self._conn = conn
        self._ack_timeout = ack_timeout
        self._linger_ms = linger_ms
        self._batch_bytes = batch_bytes
        self._producer: AIOKafkaProducer | None = None

    @property
    def ack_timeout(self) -> float:
        return self._ack_timeout

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            **self._conn.client_kwargs(),
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=int(self._ack_timeout * 1000),
            linger_ms=self._linger_ms,
            max_batch_size=self._batch_bytes,
            max_request_size=max(self._batch_bytes, 1 << 20),
        )
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
        if not done:
            logger.warning(
                "Kafka producer could not flush in %.0fs: abandoning unacknowledged records", self._ack_timeout
            )
            _end_sender(producer)
            await closing

    async def send(self, topic: str, items: Iterable[tuple[bytes, bytes]]) -> Delivery:
        """Hand (key, value) records to Kafka in per-partition batches; returns without waiting for acks.

        A failure to hand over (cluster gone, producer stopped, a partition's previous batch not drained
        within request_timeout) ends the call: the Delivery says why (`error`), and every record it was given
        has a verdict, so the records never handed over are known and sent again by `confirm`.
        """
        records = items if isinstance(items, Sequence) else list(items)
        delivery = Delivery(translate)
        try:
            producer = self._started()
            count = len(await producer.partitions_for(topic))
            await _Batcher(producer, topic, count, delivery).fill(records)
        except (KafkaError, OSError, TimeoutError) as exc:
            delivery.error = translate(exc)
        except (KafkaUnavailable, KafkaRejected) as exc:
            delivery.error = exc
        finally:
            delivery.account_for(len(records))
        return delivery

    async def send_all(self, records: Sequence[OutRecord]) -> list[Verdict]:
        """Produce every record and wait for every ack (at most ack_timeout); per record None or the error."""
        by_topic: dict[str, list[int]] = {}
        for index, record in enumerate(records):
            by_topic.setdefault(record.topic, []).append(index)
        deliveries = [
            (indexes, await self.send(topic, [(records[i].key, records[i].value) for i in indexes]))
            for topic, indexes in by_topic.items()
        ]
        results: list[Verdict] = [None] * len(records)
        deadline = time.monotonic() + self._ack_timeout
        for indexes, delivery in deliveries:
            await delivery.settle(max(0.0, deadline - time.monotonic()))
            for i, verdict in zip(indexes, delivery.verdicts(), strict=True):
                results[i] = verdict
        return results

    def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            msg = "Kafka unavailable: producer not started"
            raise KafkaUnavailable(msg)
        return self._producer


class _Batcher:
    """Fills one open batch per partition; a full batch is handed to aiokafka and a new one opened."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, partitions: int, delivery: Delivery) -> None:
        self._producer = producer
        self._topic = topic
        self._partitions = partitions
        self._delivery = delivery
        self._open: dict[int, tuple[Any, int]] = {}  # partition -> (open batch, its batch number)
        self._numbered = 0

    async def fill(self, items: Iterable[tuple[bytes, bytes]]) -> None:
        partitions, batch_of, opened = self._partitions, self._delivery.batch_of, self._open
        for key, value in items:
            partition = (murmurhash2(key, MURMUR2_SEED) & 0x7FFFFFFF) % partitions
            builder, number = opened.get(partition) or (None, -1)
            if builder is None or builder.append(timestamp=None, key=key, value=value) is None:
                builder, number = await self._reopen(partition, key, value)
            batch_of.append(number)
        for partition in list(opened):
            await self._hand_over(partition)

    async def _reopen(self, partition: int, key: bytes, value: bytes) -> tuple[Any, int]:
        if partition in self._open:  # full: hand it over first
            await self._hand_over(partition)
        builder, number = self._producer.create_batch(), self._numbered
        self._numbered += 1
        self._open[partition] = (builder, number)
        if builder.append(timestamp=None, key=key, value=value) is None:
            msg = f"Kafka refused the request: a record of {len(value)} bytes does not fit one batch"
            raise KafkaRejected(msg)
        return builder, number

    async def _hand_over(self, partition: int) -> None:
        builder, number = self._open.pop(partition)
        builder.close()
        self._delivery.batches[number] = await self._producer.send_batch(builder, self._topic, partition=partition)


def _end_sender(producer: AIOKafkaProducer) -> None:
    """Let stop() finish on an unreachable cluster: end the sender task that retries forever.

    aiokafka has no public API for this. stop() waits for the accumulator to drain OR the sender
    task to end; cancelling the task ends it after one more attempt per in-flight request.
    """
    task = getattr(getattr(producer, "_sender", None), "sender_task", None)
    if task is not None and not task.done():
        task.cancel()
