"""`python -m devstack kafka <tool>` runs Kafka's own Java tools against the stack, as the README shows them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devstack.kafka_tools import with_bootstrap
from devstack.stack import Endpoints
from streamproc.kafka.groups import GroupAdmin
from streamproc.shared.settings import KafkaConnection

REPO = Path(__file__).resolve().parents[2]


def devstack_kafka(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack", "kafka", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )


async def produce_and_commit(bootstrap: str, topic: str, group: str) -> None:
    """Five records in each of two partitions; the group commits 3 and 5 as a sink consumer would."""
    conn = KafkaConnection(bootstrap_servers=bootstrap)
    producer = AIOKafkaProducer(**conn.client_kwargs())
    await producer.start()
    try:
        for partition in (0, 1):
            for i in range(5):
                await producer.send_and_wait(topic, f"{i}".encode(), partition=partition)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, **conn.client_kwargs(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    offsets = {TopicPartition(topic, 0): 3, TopicPartition(topic, 1): 5}
    try:
        async with asyncio.timeout(30):
            while consumer.assignment() != set(offsets):
                await consumer.getmany(timeout_ms=200)
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def committed(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    async with GroupAdmin(KafkaConnection(bootstrap_servers=bootstrap)) as admin:
        return dict((await admin.describe(group)).committed)


def test_topics_list_shows_a_topic_created_with_the_tool_on_the_stacks_broker(stack: Endpoints, unique: str) -> None:
    topic = f"tools-{unique}"
    created = devstack_kafka("topics", "--create", "--topic", topic, "--partitions", "2")  # default bootstrap
    assert created.returncode == 0, created.stderr
    listed = devstack_kafka("topics", "--bootstrap-server", stack.kafka_bootstrap_servers, "--list")
    assert listed.returncode == 0, listed.stderr
    assert topic in listed.stdout.split()


async def test_consumer_groups_describe_and_reset_to_earliest_change_the_committed_offsets(
    stack: Endpoints, unique: str
) -> None:
    topic, group, bootstrap = f"tools-{unique}", f"tools-group-{unique}", stack.kafka_bootstrap_servers
    assert devstack_kafka("topics", "--create", "--topic", topic, "--partitions", "2").returncode == 0
    await produce_and_commit(bootstrap, topic, group)
    described = devstack_kafka("consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group", group)
    assert described.returncode == 0, described.stderr
    rows = [line.split()[:6] for line in described.stdout.splitlines() if line.startswith(group)]
    assert sorted(rows) == [[group, topic, "0", "3", "5", "2"], [group, topic, "1", "5", "5", "0"]]
    reset = devstack_kafka(
        *("consumer-groups", "--bootstrap-server", bootstrap, "--group", group, "--topic", topic),
        *("--reset-offsets", "--to-earliest", "--execute"),
    )
    assert reset.returncode == 0, reset.stderr
    assert await committed(bootstrap, group) == {(topic, 0): 0, (topic, 1): 0}


def test_the_tools_exit_code_comes_back(stack: Endpoints, unique: str) -> None:
    bootstrap = stack.kafka_bootstrap_servers
    missing = devstack_kafka("topics", "--bootstrap-server", bootstrap, "--describe", "--topic", f"missing-{unique}")
    assert missing.returncode == 1
    assert "does not exist" in missing.stdout + missing.stderr


def test_without_java_the_error_says_how_to_install_it(tmp_path: Path) -> None:
    done = devstack_kafka("topics", "--list", env={**os.environ, "PATH": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.startswith("devstack: java not found on PATH: install a JDK")
    assert "Traceback" not in done.stderr


def test_bootstrap_server_is_added_only_when_the_command_line_names_no_cluster() -> None:
    assert with_bootstrap(["--list"], "127.0.0.1:1") == ["--list", "--bootstrap-server", "127.0.0.1:1"]
    assert with_bootstrap(["--bootstrap-server", "b:9092", "--list"], "x") == ["--bootstrap-server", "b:9092", "--list"]
    assert with_bootstrap(["--bootstrap-server=b:9092"], "x") == ["--bootstrap-server=b:9092"]
    assert with_bootstrap(["--help"], "x") == ["--help"]
