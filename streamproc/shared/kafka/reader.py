"""Reads topics without a consumer group: end offsets, and the records from given offsets up to the end.

What a resumed split uses to see which of its records reached Kafka before its worker stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from streamproc.shared.kafka.errors import KafkaRejected, KafkaUnavailable, translate
from streamproc.shared.settings import KafkaConnection


class TopicReader:
    """One group-less consumer, assigned and positioned per call; nothing is ever committed."""

    def __init__(self, conn: KafkaConnection, *, max_records: int = 10_000) -> None:
        self._conn = conn
        self._max_records = max_records
        self._consumer: AIOKafkaConsumer | None = None
        self._client: AIOKafkaClient | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(**self._conn.client_kwargs(), enable_auto_commit=False, group_id=None)
        client = AIOKafkaClient(**self._conn.client_kwargs(), client_id="streamproc-reader")
        try:
            await consumer.start()
            await client.bootstrap()
        except (KafkaError, OSError, TimeoutError) as exc:
            await consumer.stop()
            await client.close()
            raise translate(exc) from exc
        self._consumer, self._client = consumer, client

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        client, self._client = self._client, None
        if consumer is not None:
            await consumer.stop()
        if client is not None:
            await client.close()

    def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            msg = "Kafka unavailable: topic reader not started"
            raise KafkaUnavailable(msg)
        return self._consumer

    async def end_offsets(self, topic: str) -> dict[int, int]:
        """The offset the next record of each partition will get."""
        consumer = self._started()
        try:
            partitions = await self._partitions(topic)
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        except (KafkaError, OSError, TimeoutError) as exc:
            raise translate(exc) from exc
        return {tp.partition: offset for tp, offset in ends.items()}

    async def _partitions(self, topic: str) -> list[int]:
        """The topic's partitions, from fresh cluster metadata (a consumer only knows what it subscribed to)."""
        if self._client is None:
            msg = "Kafka unavailable: topic reader not started"
            raise KafkaUnavailable(msg)
        metadata = await self._client.fetch_all_metadata()
        partitions = metadata.partitions_for_topic(topic)
        if not partitions:
            msg = f"Kafka refused the request: no topic {topic}"
            raise KafkaRejected(msg)
        return sorted(partitions)

    async def read(self, topic: str, since: Mapping[int, int]) -> list[tuple[int, bytes]]:
        """Every (partition, value) from `since` up to the end each partition had when the call began."""
        consumer = self._started()
        try:
            until = await self.end_offsets(topic)
            wanted = {TopicPartition(topic, p): until.get(p, 0) for p in since if until.get(p, 0) > since[p]}
            if not wanted:
                return []
            consumer.assign(list(wanted))
            for tp in wanted:
                consumer.seek(tp, since[tp.partition])
            return await self._drain(consumer, wanted)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise translate(exc) from exc

    async def _drain(self, consumer: AIOKafkaConsumer, until: dict[TopicPartition, int]) -> list[tuple[int, bytes]]:
        got: list[tuple[int, bytes]] = []
        left = dict(until)
        async with asyncio.timeout(60):
            while left:
                batches = await consumer.getmany(*left, timeout_ms=500, max_records=self._max_records)
                for tp, records in batches.items():
                    got += [(tp.partition, r.value or b"") for r in records if r.offset < until[tp]]
                    if records and records[-1].offset + 1 >= until[tp]:
                        left.pop(tp, None)
        return got
