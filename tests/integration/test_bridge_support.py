"""Helpers shared by the bridge's integration tests (this module holds no tests of its own)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from bridge.settings import BridgeSettings, QueueRef
from devstack.process import free_port
from devstack.provision import Provisioned, provision
from devstack.settings import AwsNames
from devstack.stack import Endpoints
from streamproc.shared.settings import AwsSettings, KafkaConnection, TopicSettings

# Upper bounds for waiting on the real services; a healthy run takes a fraction of them.
PATIENCE = 60.0


class Service(Protocol):
    def stop(self) -> None: ...
    async def run(self) -> None: ...


def provision_unique(stack: Endpoints, unique: str, *, visibility_timeout: int = 30) -> Provisioned:
    """A bucket, queue and DLQ of this test's own, with the notification to the queue."""
    names = replace(
        AwsNames(),
        bucket=f"drop-{unique}",
        queue=f"events-{unique}",
        dlq=f"dlq-{unique}",
        visibility_timeout=visibility_timeout,
    )
    return provision(stack.aws, names)


def bridge_settings(stack: Endpoints, made: Provisioned, unique: str, **overrides: Any) -> BridgeSettings:
    """Settings pointing at this test's queues and topics, with short waits so tests stay fast."""
    settings = BridgeSettings(
        aws=AwsSettings(
            endpoint_url=stack.aws.url,
            region=stack.aws.region,
            access_key_id=stack.aws.access_key_id,
            secret_access_key=stack.aws.secret_access_key,
        ),
        kafka=KafkaConnection(bootstrap_servers=stack.kafka_bootstrap_servers),
        topics=TopicSettings(objects=f"objects-{unique}", deadletter=f"deadletter-{unique}", partitions=3),
        queue=QueueRef(url=made.queue_url),
        dlq=QueueRef(url=made.dlq_url),
        wait_seconds=1,
        produce_timeout=5.0,
        backoff_initial=0.1,
        backoff_cap=1.0,
        stats_interval=0.0,
        http_port=free_port(),  # its own: `python -m bridge` serves /healthz and /metrics
        dlq_group=f"dlq-mirror-{unique}",
    )
    return replace(settings, **overrides)


def bridge_env(settings: BridgeSettings) -> dict[str, str]:
    """The same settings as environment variables, for `python -m bridge` in a subprocess."""
    return {
        "AWS_ENDPOINT_URL": settings.aws.endpoint_url or "",
        "AWS_DEFAULT_REGION": settings.aws.region,
        "AWS_ACCESS_KEY_ID": settings.aws.access_key_id or "",
        "AWS_SECRET_ACCESS_KEY": settings.aws.secret_access_key or "",
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "STREAMPROC_OBJECTS_TOPIC": settings.topics.objects,
        "STREAMPROC_DEADLETTER_TOPIC": settings.topics.deadletter,
        "STREAMPROC_TOPIC_PARTITIONS": str(settings.topics.partitions),
        "STREAMPROC_QUEUE_URL": settings.queue.url or "",
        "STREAMPROC_DLQ_URL": settings.dlq.url or "",
        "BRIDGE_WAIT_SECONDS": str(settings.wait_seconds),
        "BRIDGE_PRODUCE_TIMEOUT": str(settings.produce_timeout),
        "BRIDGE_BACKOFF_INITIAL": str(settings.backoff_initial),
        "BRIDGE_BACKOFF_CAP": str(settings.backoff_cap),
        "BRIDGE_DLQ_GROUP": settings.dlq_group,
        "BRIDGE_STATS_INTERVAL": "0",
        "BRIDGE_HTTP_HOST": settings.http_host,
        "BRIDGE_HTTP_PORT": str(settings.http_port),
    }


@asynccontextmanager
async def running(*services: Service) -> AsyncIterator[None]:
    """Run services in the background for the block; stop them gracefully after, surfacing any crash."""
    tasks = [asyncio.create_task(service.run()) for service in services]
    try:
        yield
    finally:
        for service in services:
            service.stop()
        async with asyncio.timeout(PATIENCE):
            await asyncio.gather(*tasks)


async def eventually(check: Callable[[], bool | Awaitable[bool]], what: str, patience: float = PATIENCE) -> None:
    """Poll `check` until true; fail naming `what` if it never becomes true."""
    deadline = time.monotonic() + patience
    while True:
        outcome = check()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        if time.monotonic() > deadline:
            msg = f"timed out waiting for {what}"
            raise AssertionError(msg)
        await asyncio.sleep(0.1)


async def consume(
    bootstrap: str, topic: str, want: int, patience: float = PATIENCE
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read `topic` from the start until `want` records arrived (or fail after `patience` seconds)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"reader-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest"
    )
    await consumer.start()
    got: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async with asyncio.timeout(patience):
            while len(got) < want:
                batches = await consumer.getmany(timeout_ms=500)
                got += [record for records in batches.values() for record in records]
    finally:
        await consumer.stop()
    return got


async def consume_keys(bootstrap: str, topic: str, keys: set[bytes]) -> list[ConsumerRecord[bytes, bytes]]:
    """Read `topic` until every key in `keys` arrived at least once (SQS may redeliver: duplicates can come)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"reader-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest"
    )
    await consumer.start()
    got: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async with asyncio.timeout(PATIENCE):
            while not keys <= {r.key for r in got}:
                batches = await consumer.getmany(timeout_ms=500)
                got += [record for records in batches.values() for record in records]
    finally:
        await consumer.stop()
    return got


async def topic_size(bootstrap: str, topic: str, partitions: int) -> int:
    """Records ever written to `topic` (the sum of its partitions' end offsets)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
    finally:
        await consumer.stop()
    return int(sum(ends.values()))


async def queue_depth(sqs: Any, url: str) -> int:
    """Messages still in the queue, visible or in flight."""
    attrs = (
        await sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


async def upload(s3: Any, bucket: str, keys: Iterable[str], body: bytes = b"claim_id\nC1\n") -> None:
    """Put every key at once, as a burst of drops would."""
    await asyncio.gather(*(s3.put_object(Bucket=bucket, Key=key, Body=body) for key in keys))
