"""Reads topics without a consumer group: end offsets, and the records from given offsets up to the end.

What a resumed split uses to see which of its records reached Kafka before its worker stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, NoError, for_code
from aiokafka.protocol.offset import OffsetRequest

from streamproc.kafka.errors import KafkaRejected, KafkaUnavailable, translate
from streamproc.shared.settings import KafkaConnection

LATEST = -1  # ListOffsets' timestamp for "the next offset"


async def open_groupless(
    conn: KafkaConnection, *, client_id: str, request_timeout_ms: int | None = None
) -> tuple[AIOKafkaConsumer, AIOKafkaClient]:
    """A started consumer without a group (it never commits) and a started metadata client; errors translated."""
    timeout = {} if request_timeout_ms is None else {"request_timeout_ms": request_timeout_ms}
    consumer = AIOKafkaConsumer(
        **conn.client_kwargs(), enable_auto_commit=False, group_id=None, client_id=client_id, **timeout
    )
    client = AIOKafkaClient(**conn.client_kwargs(), client_id=client_id, **timeout)
    try:
        await consumer.start()
        await client.bootstrap()
    except (KafkaError, OSError, TimeoutError) as exc:
        await close_groupless(consumer, client)
        raise translate(exc) from exc
    return consumer, client


async def close_groupless(consumer: AIOKafkaConsumer | None, client: AIOKafkaClient | None) -> None:
    if consumer is not None:
        await consumer.stop()
    if client is not None:
        await client.close()


class TopicReader:
    """One group-less consumer, assigned and positioned per call; nothing is ever committed."""

    def __init__(self, conn: KafkaConnection, *, max_records: int = 10_000, page_timeout: float = 30.0) -> None:
        self._conn = conn
        self._max_records = max_records
        self._page_timeout = page_timeout
        self._consumer: AIOKafkaConsumer | None = None
        self._client: AIOKafkaClient | None = None

    async def start(self) -> None:
        self._consumer, self._client = await open_groupless(self._conn, client_id="streamproc-reader")

    async def stop(self) -> None:
        consumer, client, self._consumer, self._client = self._consumer, self._client, None, None
        await close_groupless(consumer, client)

    def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            msg = "Kafka unavailable: topic reader not started"
            raise KafkaUnavailable(msg)
        return self._consumer

    async def end_offsets(self, topic: str) -> dict[int, int]:
        """The offset the next record of each partition will get: one ListOffsets request per leader.

        Metadata is the client's, tracked for the topics asked about only (a cluster may hold thousands),
        and refreshed by the client; an unknown leader or a moved partition refreshes it at once and is
        reported as unavailable (the caller retries).
        """
        client = self._started_client()
        try:
            await client.add_topic(topic)
            partitions = client.cluster.partitions_for_topic(topic)
            if not partitions:
                await client.force_metadata_update()
                partitions = client.cluster.partitions_for_topic(topic)
            if not partitions:
                msg = f"Kafka refused the request: no topic {topic}"
                raise KafkaRejected(msg)
            by_leader: dict[int, list[tuple[int, int]]] = {}
            for p in sorted(partitions):
                leader = client.cluster.leader_for_partition(TopicPartition(topic, p))
                if leader is None or leader < 0:
                    client.force_metadata_update()
                    msg = f"Kafka unavailable: no leader for {topic}/{p}"
                    raise KafkaUnavailable(msg)
                by_leader.setdefault(leader, []).append((p, LATEST))
            ends: dict[int, int] = {}
            for node, wanted in by_leader.items():
                ends |= await self._list_offsets(client, node, topic, wanted)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise translate(exc) from exc
        return ends

    async def _list_offsets(
        self, client: AIOKafkaClient, node: int, topic: str, wanted: list[tuple[int, int]]
    ) -> dict[int, int]:
        response = await client.send(node, OffsetRequest(-1, 0, [(topic, wanted)]))
        ends: dict[int, int] = {}
        for _topic, parts in response.topics:
            for partition, error_code, *info in parts:
                error = for_code(error_code)
                if error is not NoError:
                    client.force_metadata_update()  # a moved leader: the retry asks the new one
                    raise error()
                ends[partition] = info[-1]  # v1-v3: (timestamp, offset)
        return ends

    def _started_client(self) -> AIOKafkaClient:
        if self._client is None:
            msg = "Kafka unavailable: topic reader not started"
            raise KafkaUnavailable(msg)
        return self._client

    async def read(
        self, topic: str, since: Mapping[int, int], until: Mapping[int, int]
    ) -> AsyncIterator[list[tuple[int, int, bytes]]]:
        """(partition, offset, value) from `since` up to `until` (exclusive), in pages of at most max_records:
        memory holds one page whatever the range. A page that does not come within `page_timeout` seconds
        raises KafkaUnavailable; the caller goes on from the last offset it saw, not from the start."""
        consumer = self._started()
        wanted = {TopicPartition(topic, p): until[p] for p in since if until.get(p, 0) > since[p]}
        if not wanted:
            return
        try:
            consumer.assign(list(wanted))
            for tp in wanted:
                consumer.seek(tp, since[tp.partition])
            left = dict(wanted)
            while left:
                async with asyncio.timeout(self._page_timeout):
                    batches = await consumer.getmany(*left, timeout_ms=500, max_records=self._max_records)
                page: list[tuple[int, int, bytes]] = []
                for tp, records in batches.items():
                    page += [(tp.partition, r.offset, r.value or b"") for r in records if r.offset < wanted[tp]]
                    if records and records[-1].offset + 1 >= wanted[tp]:
                        left.pop(tp, None)
                if page:
                    yield page
        except (KafkaError, OSError, TimeoutError) as exc:
            raise translate(exc) from exc
