"""A Kafka outage on a private broker (the shared one stays up): nothing deleted, nothing lost, resumes alone."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aioboto3
import pytest

from bridge import bootstrap
from devstack.kafka import Kafka
from devstack.process import wait_for
from devstack.settings import StackSettings
from devstack.stack import Endpoints
from streamproc.contract.events import OBJECT_EVENT_DECODER
from streamproc.shared.settings import KafkaConnection
from tests.integration.test_bridge_support import (
    bridge_settings,
    consume_keys,
    eventually,
    provision_unique,
    queue_depth,
    running,
    upload,
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _start(kafka: Kafka) -> None:
    await asyncio.to_thread(kafka.start)
    healthy = await asyncio.to_thread(wait_for, kafka.healthy, 120.0, 0.5)
    assert healthy, f"private Kafka not healthy; see {kafka.log_file}"


@pytest.fixture
async def private_kafka(tmp_path: Path) -> AsyncIterator[Kafka]:
    """A broker of this test's own, on free ports, with its data in tmp_path (kept across restarts)."""
    settings = StackSettings(
        state_dir=tmp_path / "private-kafka", kafka_port=_free_port(), kafka_controller_port=_free_port()
    )
    kafka = Kafka(settings)
    try:
        await _start(kafka)
        yield kafka
    finally:
        await asyncio.to_thread(kafka.stop)


@pytest.mark.slow
async def test_while_kafka_is_down_no_message_is_deleted_and_after_it_returns_every_event_arrives(
    stack: Endpoints, unique: str, private_kafka: Kafka
) -> None:
    made = provision_unique(stack, unique, visibility_timeout=2)  # short, so the kept messages return soon
    kafka = KafkaConnection(bootstrap_servers=private_kafka.endpoint)
    settings = bridge_settings(stack, made, unique, kafka=kafka, produce_timeout=3.0)
    relay = bootstrap.relay(settings)
    keys = [f"outage/file-{i}.csv" for i in range(6)]
    session = aioboto3.Session()
    kw = stack.aws.client_kwargs()
    async with session.client("s3", **kw) as s3, session.client("sqs", **kw) as sqs, running(relay):
        await eventually(lambda: relay.stats.deleted == 1, "the test event deleted")
        await asyncio.to_thread(private_kafka.stop)
        await upload(s3, made.bucket, keys)
        await eventually(lambda: not relay.receiving, "the relay pausing its SQS receives")
        received, errors = relay.stats.received, relay.stats.errors
        await eventually(lambda: relay.stats.errors >= errors + 3, "three failed reconnects while paused")
        assert relay.stats.received == received  # no receive while Kafka is down: receive counts do not burn
        assert relay.stats.deleted == 1
        assert await queue_depth(sqs, made.queue_url) == len(keys)

        await _start(private_kafka)
        wanted = {f"{made.bucket}/{k}".encode() for k in keys}
        records = await consume_keys(private_kafka.endpoint, settings.topics.objects, wanted)
        await eventually(lambda: relay.stats.deleted >= 1 + len(keys), "every message deleted")
        assert await queue_depth(sqs, made.queue_url) == 0
        assert await queue_depth(sqs, made.dlq_url) == 0  # nothing was redriven to the DLQ
    assert sorted({OBJECT_EVENT_DECODER.decode(r.value).key for r in records}) == keys
    assert relay.stats.produced >= len(keys)
