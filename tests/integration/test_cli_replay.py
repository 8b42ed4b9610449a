"""`replay` against the real processes: a replay to earliest (ours or Kafka's own tool) changes no row or ledger count;
it is refused while the worker runs; --to-datetime lands where it should."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devstack.deployment import Deployment, deployment
from devstack.stack import Endpoints
from streamproc.datasets import samples
from streamproc.kafka.admin import TopicSpec, ensure_topics
from streamproc.kafka.groups import GroupAdmin
from streamproc.shared.settings import KafkaConnection
from tests.integration.cli_support import cli, committed, fingerprint, kafka_tool, wait_caught_up, wait_members

FILES = {
    "pharmacy_claims/replay.csv": samples.csv_bytes("pharmacy_claims", 1500, 0.02, seed=41, prefix="P"),
    "audit_records/replay.csv": samples.csv_bytes("audit_records", 600, 0.02, seed=42, prefix="A"),
}


def sink_groups(d: Deployment, unique: str) -> dict[str, str]:
    """Each sink group of the deployment -> the topic it reads."""
    app = d.env["STREAMPROC_APP_ID"]
    return {
        f"{app}-sink-pharmacy_claims": f"{unique}.claims.pharmacy",
        f"{app}-sink-audit_records": f"{unique}.audit.records",
    }


def kafka(stack: Endpoints) -> KafkaConnection:
    return KafkaConnection(bootstrap_servers=stack.kafka_bootstrap_servers)


async def reset_with_kafkas_own_tool(d: Deployment, groups: dict[str, str]) -> None:
    for group, topic in groups.items():
        done = await kafka_tool(
            d.env, "consumer-groups", "--bootstrap-server", d.stack.kafka_bootstrap_servers,
            "--group", group, "--topic", topic, "--reset-offsets", "--to-earliest", "--execute",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert group in done.stdout


async def reset_with_our_cli(d: Deployment, groups: dict[str, str]) -> None:
    dry = await cli(d.env, "replay", "--to-earliest")
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing was changed" in dry.stdout
    assert all(f"group {group} (Empty; no active members): --to-earliest" in dry.stdout for group in groups)
    before = [await committed(kafka(d.stack), g) for g in groups]
    assert all(c and all(o > 0 for o in c.values()) for c in before), before
    done = await cli(d.env, "replay", "--to-earliest", "--execute")
    assert done.returncode == 0, done.stderr
    assert all(f"applied: group {group}" in done.stdout for group in groups)


@pytest.mark.parametrize("tool", ["streamproc replay", pytest.param("kafka-consumer-groups", marks=pytest.mark.slow)])
async def test_a_replay_to_earliest_and_a_worker_restart_change_no_row_checksum_or_ledger_count(
    stack: Endpoints, unique: str, tmp_path: Path, tool: str
) -> None:
    async with deployment(stack, unique, tmp_path) as d:
        groups = sink_groups(d, unique)
        d.start("bridge", "-m", "bridge")
        d.start("worker", "-m", "streamproc", "worker", "--loglevel=info")
        for key, body in FILES.items():
            await d.upload(key, body)
        await d.wait_finished(list(FILES), limit=180)
        await wait_caught_up(kafka(stack), groups)
        before = await fingerprint(d.database_url)
        d.stop("worker")
        await wait_members(kafka(stack), list(groups), present=False)
        if tool == "streamproc replay":
            await reset_with_our_cli(d, groups)
        else:
            await reset_with_kafkas_own_tool(d, groups)
        for group, topic in groups.items():
            offsets = await committed(kafka(stack), group)
            assert offsets, group
            assert all(o == 0 for (t, _), o in offsets.items() if t == topic), offsets
        d.start("worker", "-m", "streamproc", "worker", "--loglevel=info")
        await wait_caught_up(kafka(stack), groups)
        after = await fingerprint(d.database_url)
    assert before["pharmacy_claims"][0] > 1400
    assert before["audit_records"][0] > 550
    assert after == before


async def test_a_replay_is_refused_while_the_worker_runs_and_names_its_members(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    async with deployment(stack, unique, tmp_path) as d:
        groups = sink_groups(d, unique)
        d.start("worker", "-m", "streamproc", "worker", "--loglevel=info")
        await wait_members(kafka(stack), list(groups), present=True)
        async with GroupAdmin(kafka(stack)) as admin:
            members = [m for g in groups for m in (await admin.describe(g)).members]
        refused = await cli(d.env, "replay", "--to-earliest", "--execute")
        assert [await committed(kafka(stack), g) for g in groups] == [{}, {}]
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert "Nothing was changed." in refused.stderr
    for member in members:
        assert f"{member.member_id} (client {member.client_id}, host {member.host})" in refused.stderr
    assert "applied" not in refused.stdout


BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


async def seed_group(conn: KafkaConnection, topic: str, group: str) -> None:
    """Two partitions of 10 records, record i at BASE + i minutes; the group committed 8 and 9."""
    producer = AIOKafkaProducer(**conn.client_kwargs(), acks="all")
    await producer.start()
    try:
        for partition in (0, 1):
            for i in range(10):
                at = int((BASE + timedelta(minutes=i)).timestamp() * 1000)
                await producer.send_and_wait(topic, b"{}", key=f"k{i}".encode(), partition=partition, timestamp_ms=at)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, **conn.client_kwargs(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        async with asyncio.timeout(60):
            while len(consumer.assignment()) < 2:
                await consumer.getmany(timeout_ms=200)
        await consumer.commit({TopicPartition(topic, 0): 8, TopicPartition(topic, 1): 9})
    finally:
        await consumer.stop()


async def test_replay_to_a_datetime_lands_on_the_first_record_at_or_after_it(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    async with deployment(stack, unique, tmp_path) as d:  # no process runs: only its settings are used
        topic, group = f"{unique}.claims.pharmacy", f"{d.env['STREAMPROC_APP_ID']}-sink-pharmacy_claims"
        await ensure_topics(kafka(stack), [TopicSpec(name=topic, partitions=2, replication=1)])
        await seed_group(kafka(stack), topic, group)
        at = (BASE + timedelta(minutes=3, seconds=30)).isoformat()
        dry = await cli(d.env, "replay", "--dataset", "pharmacy_claims", "--to-datetime", at)
        one = await cli(
            d.env, "replay", "--dataset", "pharmacy_claims", "--to-datetime", at, "--partitions", "1", "--execute"
        )
        assert await committed(kafka(stack), group) == {(topic, 0): 8, (topic, 1): 4}
        done = await cli(d.env, "replay", "--dataset", "pharmacy_claims", "--to-datetime", at, "--execute")
        assert await committed(kafka(stack), group) == {(topic, 0): 4, (topic, 1): 4}
    assert (dry.returncode, one.returncode, done.returncode) == (0, 0, 0), (dry.stderr, one.stderr, done.stderr)
    lines = [line.split() for line in dry.stdout.splitlines()]
    assert [topic, "0", "8", "4", "2", "6"] in lines
    assert [topic, "1", "9", "4", "1", "6"] in lines
