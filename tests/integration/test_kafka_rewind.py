"""On the real broker: after records were fetched and dropped (as Faust drops what a rebalance interrupts), the
worker's "seek to committed" rewinds partitions the group never committed, where aiokafka's alone does not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devstack.stack import Endpoints
from streamproc.kafka.admin import TopicSpec, ensure_topics
from streamproc.kafka.faust_driver import seek_to_committed_or_start
from streamproc.shared.settings import KafkaConnection

RECORDS = 3


@pytest.fixture
async def conn_topic(stack: Endpoints, unique: str) -> tuple[KafkaConnection, str]:
    conn = KafkaConnection(bootstrap_servers=stack.kafka_bootstrap_servers)
    topic = f"rewind-{unique}"
    await ensure_topics(conn, [TopicSpec(name=topic, partitions=1, replication=1)])
    producer = AIOKafkaProducer(**conn.client_kwargs(), acks="all")
    await producer.start()
    try:
        for i in range(RECORDS):
            await producer.send_and_wait(topic, f"{i}".encode(), partition=0)
    finally:
        await producer.stop()
    return conn, topic


async def _fetched_all(conn: KafkaConnection, topic: str, group: str, committed: int | None) -> AIOKafkaConsumer:
    """A group member that has fetched (and so moved past) every record, the group having committed `committed`."""
    consumer = AIOKafkaConsumer(
        topic, **conn.client_kwargs(), group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    tp = TopicPartition(topic, 0)
    seen = 0
    async with asyncio.timeout(30):
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=200)
        if committed is not None:
            await consumer.commit({tp: committed})
            consumer.seek(tp, committed)
        while seen < RECORDS - (committed or 0):
            seen += sum(len(batch) for batch in (await consumer.getmany(timeout_ms=200)).values())
    assert await consumer.position(tp) == RECORDS
    return consumer


@pytest.fixture
async def consumers() -> AsyncIterator[list[AIOKafkaConsumer]]:
    started: list[AIOKafkaConsumer] = []
    yield started
    for consumer in started:
        await consumer.stop()


@pytest.mark.parametrize(("committed", "rewound_to"), [(None, 0), (0, 0), (2, 2)])
async def test_the_worker_rewinds_to_the_committed_offset_or_to_the_start_when_there_is_none(
    conn_topic: tuple[KafkaConnection, str],
    consumers: list[AIOKafkaConsumer],
    unique: str,
    committed: int | None,
    rewound_to: int,
) -> None:
    conn, topic = conn_topic
    consumer = await _fetched_all(conn, topic, f"rewind-{unique}-{committed}", committed)
    consumers.append(consumer)
    offsets = await seek_to_committed_or_start(consumer)
    assert offsets == {TopicPartition(topic, 0): committed}
    assert await consumer.position(TopicPartition(topic, 0)) == rewound_to
    got = await consumer.getmany(timeout_ms=5000)
    assert [r.offset for r in got.get(TopicPartition(topic, 0), [])][:1] == [rewound_to]


async def test_aiokafka_alone_leaves_a_partition_never_committed_past_what_was_fetched(
    conn_topic: tuple[KafkaConnection, str], consumers: list[AIOKafkaConsumer], unique: str
) -> None:
    """Why the worker has its own: should aiokafka change this, the workaround can go."""
    conn, topic = conn_topic
    consumer = await _fetched_all(conn, topic, f"rewind-{unique}-upstream", None)
    consumers.append(consumer)
    await consumer.seek_to_committed()
    assert await consumer.position(TopicPartition(topic, 0)) == RECORDS  # the fetched records are not read again
