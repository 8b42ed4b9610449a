"""Consumer group admin on the real broker: describe, plan every reset spec, refuse while members run, apply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devstack.stack import Endpoints
from streamproc.kafka.admin import TopicSpec, ensure_topics
from streamproc.kafka.groups import GroupAdmin
from streamproc.kafka.resets import (
    ByDuration,
    GroupHasActiveMembers,
    ResetSpec,
    ShiftBy,
    ToDatetime,
    ToEarliest,
    ToLatest,
    ToOffset,
    UnknownGroup,
    UnknownTopic,
    plan_reset,
)
from streamproc.shared.settings import KafkaConnection

RECORDS = 10  # per partition; record i has the timestamp BASE + i minutes
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
COMMITTED = {0: 4, 1: 7}


@dataclass(frozen=True)
class Topic:
    conn: KafkaConnection
    name: str
    group: str


async def commit(conn: KafkaConnection, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit as a sink does: join the group, get the partitions assigned, commit, leave."""
    topic = next(iter(offsets)).topic
    consumer = AIOKafkaConsumer(topic, **conn.client_kwargs(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            while consumer.assignment() != set(offsets):
                await consumer.getmany(timeout_ms=200)
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


@pytest.fixture
async def topic(stack: Endpoints, unique: str) -> AsyncIterator[Topic]:
    """A 2-partition topic with RECORDS records a minute apart in each, and a group that committed 4 and 7."""
    conn = KafkaConnection(bootstrap_servers=stack.kafka_bootstrap_servers)
    name, group = f"replay-{unique}", f"replay-group-{unique}"
    await ensure_topics(conn, [TopicSpec(name=name, partitions=2, replication=1)])
    producer = AIOKafkaProducer(**conn.client_kwargs(), acks="all")
    await producer.start()
    try:
        for partition in (0, 1):
            for i in range(RECORDS):
                at_ms = int((BASE + timedelta(minutes=i)).timestamp() * 1000)
                await producer.send_and_wait(name, f"{i}".encode(), partition=partition, timestamp_ms=at_ms)
    finally:
        await producer.stop()
    await commit(conn, group, {TopicPartition(name, p): offset for p, offset in COMMITTED.items()})
    yield Topic(conn, name, group)


async def test_a_group_with_committed_offsets_is_described_with_them_and_its_lag(topic: Topic) -> None:
    async with GroupAdmin(topic.conn) as admin:
        group = await admin.describe(topic.group)
        assert (group.state, group.protocol_type, group.members) == ("Empty", "consumer", ())
        assert group.committed == {(topic.name, 0): 4, (topic.name, 1): 7}
        states = await admin.partition_states(group, [topic.name], at=BASE + timedelta(minutes=2, seconds=30))
    assert [(s.partition, s.committed, s.log_start, s.log_end, s.lag, s.at_time) for s in states] == [
        (0, 4, 0, RECORDS, 6, 3),
        (1, 7, 0, RECORDS, 3, 3),
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (ToEarliest(), [0, 0]),
        (ToLatest(), [RECORDS, RECORDS]),
        (ToOffset(5), [5, 5]),
        (ToOffset(99), [RECORDS, RECORDS]),
        (ShiftBy(-2), [2, 5]),
        (ShiftBy(5), [9, RECORDS]),
        (ToDatetime(BASE + timedelta(minutes=5, seconds=30)), [6, 6]),
        (ToDatetime(BASE + timedelta(minutes=6)), [6, 6]),
        (ToDatetime(BASE + timedelta(days=1)), [RECORDS, RECORDS]),
        (ByDuration(timedelta(minutes=7)), [3, 3]),  # read "now" = BASE + 10 min: the record at minute 3
    ],
    ids=repr,
)
async def test_each_reset_spec_lands_on_the_offsets_kafka_would_choose(
    topic: Topic, spec: ResetSpec, expected: list[int]
) -> None:
    async with GroupAdmin(topic.conn) as admin:
        state = await admin.replay_state(topic.group, [topic.name], spec, now=BASE + timedelta(minutes=10))
    plan = plan_reset(state, spec)
    assert [p.new for p in plan.partitions] == expected
    assert [p.current for p in plan.partitions] == [4, 7]
    assert [p.lag_after for p in plan.partitions] == [RECORDS - n for n in expected]


async def test_one_chosen_partition_is_planned_alone(topic: Topic) -> None:
    async with GroupAdmin(topic.conn) as admin:
        state = await admin.replay_state(topic.group, [topic.name], ToEarliest(), partitions=[1])
    assert [(p.partition, p.current, p.new) for p in plan_reset(state, ToEarliest()).partitions] == [(1, 7, 0)]


async def test_unknown_groups_and_topics_are_terminal_errors(topic: Topic, unique: str) -> None:
    async with GroupAdmin(topic.conn) as admin:
        with pytest.raises(UnknownGroup) as no_group:
            await admin.describe(f"never-used-{unique}")
        with pytest.raises(UnknownTopic):
            await admin.replay_state(topic.group, [f"missing-{unique}"], ToEarliest())
        with pytest.raises(UnknownTopic, match="no partition 5"):
            await admin.replay_state(topic.group, [topic.name], ToEarliest(), partitions=[5])
    assert no_group.value.retriable is False


async def first_offsets(conn: KafkaConnection, topic: str, group: str) -> dict[int, int]:
    """Where a new consumer of the group starts: the offset of the first record it gets per partition."""
    consumer = AIOKafkaConsumer(topic, **conn.client_kwargs(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    first: dict[int, int] = {}
    try:
        async with asyncio.timeout(30):
            while len(first) < 2:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    first.setdefault(tp.partition, records[0].offset)
    finally:
        await consumer.stop()
    return first


async def joined(admin: GroupAdmin, group: str) -> None:
    for _ in range(150):
        if (await admin.describe(group)).members:
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"no member joined {group} within 30s")


async def test_apply_is_refused_while_a_consumer_runs_and_works_once_it_stopped(topic: Topic, unique: str) -> None:
    kwargs = topic.conn.client_kwargs() | {"group_id": topic.group, "client_id": f"w-{unique}"}
    running = AIOKafkaConsumer(topic.name, **kwargs, enable_auto_commit=False)
    await running.start()
    try:
        async with GroupAdmin(topic.conn) as admin:
            await joined(admin, topic.group)
            state = await admin.replay_state(topic.group, [topic.name], ShiftBy(-3))
            plan = plan_reset(state, ShiftBy(-3))
            with pytest.raises(GroupHasActiveMembers, match=f"client w-{unique}") as refused:
                await admin.apply(plan)
        assert [m.client_id for m in refused.value.members] == [f"w-{unique}"]
    finally:
        await running.stop()
    async with GroupAdmin(topic.conn) as admin:
        await admin.apply(plan)
        assert (await admin.describe(topic.group)).committed == {(topic.name, 0): 1, (topic.name, 1): 4}
    assert await first_offsets(topic.conn, topic.name, topic.group) == {0: 1, 1: 4}
