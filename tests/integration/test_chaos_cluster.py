"""A private three-broker KRaft cluster (its own state dir and ports; the shared stack stays as it is): a topic
with three replicas and min.insync.replicas=2 keeps taking acks=all writes with one broker killed, and every
record written before and after the kill reads back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from devstack.cluster import Cluster, private_settings


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    made = Cluster(private_settings(tmp_path / "cluster", brokers=3, heap="384m"))
    try:
        await asyncio.to_thread(made.start)
        yield made
    finally:
        await asyncio.to_thread(made.stop)


async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        found: list[bytes] = []
        async with asyncio.timeout(60):
            while len(found) < count:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                found += [record.value for record in batch.get(tp, [])]
        return found
    finally:
        await consumer.stop()


@pytest.mark.slow
async def test_three_replicas_take_acks_all_writes_with_one_broker_killed(cluster: Cluster) -> None:
    bootstrap = cluster.bootstrap
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name="rf3", num_partitions=1, replication_factor=3)])
        for _ in range(60):  # the new topic's partitions reach the metadata a moment after it is created
            (described,) = await admin.describe_topics(["rf3"])
            if described["partitions"]:
                break
            await asyncio.sleep(0.5)
        (partition,) = described["partitions"]
        assert sorted(partition["replicas"]) == [1, 2, 3]
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "rf3")])
        min_isr = {entry[0]: entry[1] for entry in configs[0].resources[0][4]}["min.insync.replicas"]
        assert min_isr == "2"
        leader = partition["leader"]
    finally:
        await admin.close()
    await produce(bootstrap, "rf3", [b"before-%d" % n for n in range(50)])
    victim = cluster.broker(leader)  # the partition's leader: the write has to move to a new one
    assert victim.kill()
    await produce(bootstrap, "rf3", [b"after-%d" % n for n in range(50)])
    found = await read_all(bootstrap, "rf3", 100)
    assert found == [b"before-%d" % n for n in range(50)] + [b"after-%d" % n for n in range(50)]
