"""`python -m devstack.bridge_bench --uploads 1000`: relay throughput and upload→event latency on the local stack."""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import aioboto3
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from bridge import bootstrap
from bridge.relay import bridge_topics
from bridge.settings import BridgeSettings, QueueRef
from devstack.provision import AwsEndpoint, Provisioned, provision
from devstack.settings import AwsNames, StackSettings
from streamproc.contract.events import OBJECT_EVENT_DECODER
from streamproc.kafka.admin import ensure_topics
from streamproc.shared.settings import AwsSettings, KafkaConnection, TopicSettings

BODY = b"claim_id,ndc\nC1,00002143380\n"


@dataclass
class Arrivals:
    """When each object key's event was read from Kafka (monotonic seconds)."""

    at: dict[str, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    want: int = 0


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack.bridge_bench", description=__doc__)
    parser.add_argument("--uploads", type=int, default=1000, help="objects per phase (default 1000)")
    parser.add_argument("--concurrency", type=int, default=16, help="parallel uploads (default 16)")
    parser.add_argument("--pollers", type=int, default=BridgeSettings.pollers, help="relay receive loops")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the bench topic")
    return parser.parse_args(argv)


def bench_settings(stack: StackSettings, made: Provisioned, suffix: str, args: argparse.Namespace) -> BridgeSettings:
    aws = AwsEndpoint(url=f"http://127.0.0.1:{stack.moto_port}", region=stack.region)
    return BridgeSettings(
        aws=AwsSettings(
            endpoint_url=aws.url,
            region=aws.region,
            access_key_id=aws.access_key_id,
            secret_access_key=aws.secret_access_key,
        ),
        kafka=KafkaConnection(bootstrap_servers=f"127.0.0.1:{stack.kafka_port}"),
        topics=TopicSettings(
            objects=f"bench-objects-{suffix}", deadletter=f"bench-deadletter-{suffix}", partitions=args.partitions
        ),
        queue=QueueRef(url=made.queue_url),
        dlq=QueueRef(url=made.dlq_url),
        wait_seconds=1,
        pollers=args.pollers,
        stats_interval=0,
    )


async def read_events(settings: BridgeSettings, arrivals: Arrivals, ready: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        settings.topics.objects,
        **settings.kafka.client_kwargs(),
        group_id=f"bench-reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        ready.set()
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            now = time.monotonic()
            for record in (r for records in batches.values() for r in records):
                arrivals.at.setdefault(OBJECT_EVENT_DECODER.decode(record.value).key, now)
            if len(arrivals.at) >= arrivals.want:
                arrivals.done.set()
    finally:
        await consumer.stop()


async def upload_all(s3: Any, bucket: str, keys: list[str], concurrency: int) -> dict[str, float]:
    """Upload every key with `concurrency` parallel PUTs; when each PUT returned (monotonic seconds)."""
    done: dict[str, float] = {}
    queue: asyncio.Queue[str] = asyncio.Queue()
    for key in keys:
        queue.put_nowait(key)

    async def worker() -> None:
        while not queue.empty():
            key = queue.get_nowait()
            await s3.put_object(Bucket=bucket, Key=key, Body=BODY)
            done[key] = time.monotonic()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


async def queue_depth(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names))["Attributes"]
    return sum(int(attrs[name]) for name in names)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def backlog_phase(
    settings: BridgeSettings, s3: Any, sqs: Any, made: Provisioned, args: argparse.Namespace
) -> str:
    """N notifications waiting in SQS, then the relay starts: how fast does it drain them onto Kafka?"""
    keys = [f"backlog/file-{i:05d}.csv" for i in range(args.uploads)]
    await upload_all(s3, made.bucket, keys, args.concurrency)
    while True:  # moto notifies during the PUT, so this is normally true at once
        if await queue_depth(sqs, made.queue_url) >= args.uploads:
            break
        await asyncio.sleep(0.2)
    arrivals = Arrivals(want=args.uploads)
    ready = asyncio.Event()
    reader = asyncio.create_task(read_events(settings, arrivals, ready))
    await ready.wait()
    relay = bootstrap.relay(settings)
    started = time.monotonic()
    running = asyncio.create_task(relay.run())
    await arrivals.done.wait()
    relay.stop()
    await running
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    elapsed = max(arrivals.at.values()) - started
    first, last = min(arrivals.at.values()), max(arrivals.at.values())
    return (
        f"backlog: {args.uploads} events in {elapsed:.2f}s from relay start = {args.uploads / elapsed:.0f} events/s "
        f"({(args.uploads - 1) / max(last - first, 1e-9):.0f} events/s first→last event)"
    )


async def sqs_ceiling(sqs: Any, made: Provisioned, args: argparse.Namespace) -> str:
    """The same backlog received and deleted with no Kafka at all: what the SQS endpoint itself allows."""
    entries = [{"Id": str(i), "MessageBody": "x" * 800} for i in range(10)]
    await asyncio.gather(
        *(sqs.send_message_batch(QueueUrl=made.queue_url, Entries=entries) for _ in range(args.uploads // 10))
    )
    total = args.uploads // 10 * 10
    taken: list[int] = []
    started = time.monotonic()

    async def poller() -> None:
        while sum(taken) < total:
            got = await sqs.receive_message(QueueUrl=made.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            messages = got.get("Messages", [])
            if messages:
                handles = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
                await sqs.delete_message_batch(QueueUrl=made.queue_url, Entries=handles)
                taken.append(len(messages))

    await asyncio.gather(*(poller() for _ in range(args.pollers)))
    elapsed = time.monotonic() - started
    return (
        f"sqs only: {total} messages received+deleted in {elapsed:.2f}s = {total / elapsed:.0f} messages/s (no Kafka)"
    )


async def live_phase(settings: BridgeSettings, s3: Any, made: Provisioned, args: argparse.Namespace) -> str:
    """Relay running, N uploads arriving: time from each PUT returning to its event being read from Kafka."""
    keys = [f"live/file-{i:05d}.csv" for i in range(args.uploads)]
    arrivals = Arrivals(want=args.uploads * 2)  # the backlog phase's events are on the topic too
    ready = asyncio.Event()
    reader = asyncio.create_task(read_events(settings, arrivals, ready))
    await ready.wait()
    relay = bootstrap.relay(settings)
    running = asyncio.create_task(relay.run())
    await relay.wait_connected()
    started = time.monotonic()
    uploaded = await upload_all(s3, made.bucket, keys, args.concurrency)
    await arrivals.done.wait()
    relay.stop()
    await running
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    latencies = [(arrivals.at[k] - uploaded[k]) * 1000 for k in keys]
    elapsed = max(arrivals.at[k] for k in keys) - started
    return (
        f"live: {args.uploads} uploads ({args.concurrency} parallel) in {elapsed:.2f}s = "
        f"{args.uploads / elapsed:.0f} events/s; upload→event latency p50 {percentile(latencies, 50):.0f} ms, "
        f"p95 {percentile(latencies, 95):.0f} ms, max {max(latencies):.0f} ms, "
        f"mean {statistics.fmean(latencies):.0f} ms"
    )


async def cleanup(settings: BridgeSettings, sqs: Any, made: Provisioned) -> None:
    for url in (made.queue_url, made.dlq_url):
        await sqs.delete_queue(QueueUrl=url)
    admin = AIOKafkaAdminClient(**settings.kafka.client_kwargs())
    await admin.start()
    try:
        await admin.delete_topics([settings.topics.objects, settings.topics.deadletter])
    finally:
        await admin.close()


async def run(args: argparse.Namespace) -> list[str]:
    stack = StackSettings.from_env()
    suffix = uuid.uuid4().hex[:8]
    names = replace(AwsNames(), bucket=f"bench-{suffix}", queue=f"bench-events-{suffix}", dlq=f"bench-dlq-{suffix}")
    made = provision(AwsEndpoint(url=f"http://127.0.0.1:{stack.moto_port}", region=stack.region), names)
    settings = bench_settings(stack, made, suffix, args)
    await ensure_topics(settings.kafka, bridge_topics(settings))  # the reader subscribes before the relay runs
    session = aioboto3.Session()
    kw = settings.aws.client_kwargs()
    async with session.client("s3", **kw) as s3, session.client("sqs", **kw) as sqs:
        await sqs.purge_queue(QueueUrl=made.queue_url)  # the s3:TestEvent of provisioning
        try:
            return [
                await sqs_ceiling(sqs, made, args),
                await backlog_phase(settings, s3, sqs, made, args),
                await live_phase(settings, s3, made, args),
            ]
        finally:
            await cleanup(settings, sqs, made)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lines = asyncio.run(run(args))
    sys.stdout.write(f"relay benchmark (pollers={args.pollers}, partitions={args.partitions})\n")
    sys.stdout.write("".join(f"  {line}\n" for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
