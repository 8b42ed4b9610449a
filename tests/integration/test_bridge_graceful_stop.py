"""`python -m bridge` as its own process: SIGTERM mid-stream finishes in-flight work and loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aioboto3
from aiokafka import AIOKafkaConsumer, TopicPartition

from bridge.notifications import decode_body
from devstack.stack import Endpoints
from streamproc.contract.events import DEAD_LETTER_DECODER, OBJECT_EVENT_DECODER
from streamproc.shared.phi import fingerprint
from tests.integration.test_bridge_support import (
    PATIENCE,
    bridge_env,
    bridge_settings,
    consume,
    eventually,
    provision_unique,
    queue_depth,
    topic_size,
    upload,
)

REPO = Path(__file__).resolve().parents[2]
MALFORMED = "a body that is not a notification"


async def _drain(sqs: Any, url: str) -> list[str]:
    """Every body left in the queue, in-flight ones included once their visibility timeout ends."""
    bodies: list[str] = []

    async def empty() -> bool:
        resp = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in resp.get("Messages", []):
            bodies.append(message["Body"])
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return not resp.get("Messages") and await queue_depth(sqs, url) == 0

    await eventually(empty, "the queue drained")
    return bodies


async def _committed(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        offsets = [await consumer.committed(TopicPartition(topic, p)) for p in range(partitions)]
    finally:
        await consumer.stop()
    return sum(o or 0 for o in offsets)


async def _run_bridge_until_sigterm(env: dict[str, str], log: Path, upload_then_wait: Awaitable[object]) -> str:
    """Start `python -m bridge`, await the given work, send SIGTERM; its output after it exited 0."""
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", env=env, cwd=REPO, stdout=out, stderr=out
        )
        try:
            await upload_then_wait
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(PATIENCE):
                returncode = await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    output = await asyncio.to_thread(log.read_text)
    assert returncode == 0, output
    return output


async def test_sigterm_while_a_batch_is_in_flight_loses_nothing(stack: Endpoints, unique: str, tmp_path: Path) -> None:
    made = provision_unique(stack, unique, visibility_timeout=2)
    settings = bridge_settings(stack, made, unique)
    env = {**os.environ, **bridge_env(settings), "BRIDGE_MAX_MESSAGES": "5", "BRIDGE_LOG_LEVEL": "INFO"}
    keys = [f"sigterm/file-{i:02d}.csv" for i in range(40)]
    bootstrap = stack.kafka_bootstrap_servers
    session = aioboto3.Session()
    kw = stack.aws.client_kwargs()
    async with session.client("s3", **kw) as s3, session.client("sqs", **kw) as sqs:
        await sqs.send_message(QueueUrl=made.queue_url, MessageBody=MALFORMED)

        async def upload_until_events_flow() -> None:
            await upload(s3, made.bucket, keys)
            await consume(bootstrap, settings.topics.objects, want=1)

        output = await _run_bridge_until_sigterm(env, tmp_path / "bridge.log", upload_until_events_flow())
        produced = await topic_size(bootstrap, settings.topics.objects, 3)
        records = await consume(bootstrap, settings.topics.objects, want=produced)
        left = await _drain(sqs, made.queue_url)
        dead = await topic_size(bootstrap, settings.topics.deadletter, 3)
        mirrored = await _drain(sqs, made.dlq_url)
        committed = await _committed(bootstrap, settings.dlq_group, settings.topics.deadletter, 3)

    assert "stopping: in-flight batches finish first" in output
    assert "relay stopped:" in output
    assert "dlq-mirror stopped:" in output
    relayed = {OBJECT_EVENT_DECODER.decode(r.value).key for r in records}
    queued = {e.key for body in left for e in decode_body(body).events}
    assert relayed | queued == set(keys)  # every upload is an event, or still waiting in SQS
    assert (MALFORMED in left) != (dead == 1)  # the malformed body is dead-lettered, or still waiting
    assert committed == len(mirrored)  # the mirror committed exactly what SQS accepted
    for body in mirrored:
        assert DEAD_LETTER_DECODER.decode(body).raw == fingerprint(MALFORMED)
