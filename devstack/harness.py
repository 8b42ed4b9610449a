"""In-process pipeline (fan-out + sinks, no Faust) on the real stack, isolated by names; for tests and bench."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aioboto3
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from devstack.stack import Endpoints
from streamproc.contract.events import ENCODER, ObjectEvent
from streamproc.datasets.registry import Registry, load_registry
from streamproc.ingest.groups import sink_group
from streamproc.ingest.ledger import FINAL
from streamproc.ingest.split_context import Position
from streamproc.kafka.groups import GroupAdmin
from streamproc.kafka.resets import GroupDescription, UnknownGroup
from streamproc.shared.settings import AwsSettings, KafkaConnection, TopicSettings
from streamproc.worker.pipeline import Pipeline
from streamproc.worker.settings import WorkerSettings


@dataclasses.dataclass
class Harness:
    stack: Endpoints
    unique: str
    bucket: str
    database_url: str
    settings: WorkerSettings
    registry: Registry
    pipeline: Pipeline

    async def upload(self, key: str, body: bytes) -> ObjectEvent:
        """Put the object and return the event S3 would have announced (what the bridge relays)."""
        session = aioboto3.Session()
        async with session.client("s3", **self.stack.aws.client_kwargs()) as s3:
            await s3.put_object(Bucket=self.bucket, Key=key, Body=body)
            head = await s3.head_object(Bucket=self.bucket, Key=key)
        return ObjectEvent(
            bucket=self.bucket,
            key=key,
            size=head["ContentLength"],
            etag=head["ETag"].strip('"'),
            event_name="ObjectCreated:Put",
            event_time=datetime.now(UTC),
        )

    async def ingest(self, event: ObjectEvent) -> None:
        await self.pipeline.fanout.handle(_encode(event), Position(self.settings.topics.objects, 0, 0))

    async def wait_finished(self, keys: Sequence[str], limit: float = 60.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + limit
        while True:
            rows = [r for r in await self.pipeline.ledger.files(limit=1000, bucket=self.bucket) if r["key"] in keys]
            if len({r["key"] for r in rows}) == len(set(keys)) and all(r["status"] in FINAL for r in rows):
                return rows
            if time.monotonic() > deadline:
                msg = f"files not finished in {limit}s: {[(r['key'], r['status']) for r in rows]}"
                raise AssertionError(msg)
            await asyncio.sleep(0.2)

    async def wait_drained(self, limit: float = 60.0) -> None:
        """Until every sink group has committed the end of its topic: every row on Kafka is loaded (or refused)."""
        deadline = time.monotonic() + limit
        async with GroupAdmin(self.settings.kafka) as admin:
            while not await self._drained(admin):
                if time.monotonic() > deadline:
                    msg = f"sinks not drained in {limit}s"
                    raise AssertionError(msg)
                await asyncio.sleep(0.2)

    async def _drained(self, admin: GroupAdmin) -> bool:
        for dataset in self.registry:
            try:
                group = await admin.describe(sink_group(self.settings.app_id, dataset))
            except UnknownGroup:
                group = GroupDescription(group_id="", state="Dead", protocol_type="", members=(), committed={})
            for p in await admin.partition_states(group, [dataset.topic]):
                if (p.committed or 0) < p.log_end:
                    return False
        return True

    async def query(self, query: str, *params: Any) -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(self.database_url, row_factory=dict_row) as conn:
            cur = await conn.execute(query.encode(), params)
            return await cur.fetchall()

    def table(self, dataset: str) -> str:
        return self.registry.by_name(dataset).table


def _encode(event: ObjectEvent) -> bytes:
    return ENCODER.encode(event)


@asynccontextmanager
async def running_pipeline(
    stack: Endpoints,
    unique: str,
    extra_datasets: Sequence[str] = (),
    *,
    run_sinks: bool = True,
    server_url: str | None = None,
    **overrides: Any,
) -> AsyncIterator[Harness]:
    """Unique topics, schema and bucket; Pipeline started as a mode.Service; stopped afterwards."""
    schema = f"t_{unique}"
    server_url = server_url or stack.database_url  # another PostgreSQL server, e.g. one a test stops
    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    database_url = f"{server_url}?options=-csearch_path%3D{schema}"
    settings = WorkerSettings(
        app_id=f"test-{unique}",
        kafka=KafkaConnection(bootstrap_servers=stack.kafka_bootstrap_servers),
        topics=TopicSettings(
            namespace=f"{unique}.",
            objects=f"{unique}.ingest.objects",
            deadletter=f"{unique}.ingest.deadletter",
            partitions=3,
        ),
        aws=AwsSettings(
            endpoint_url=stack.aws.url,
            region=stack.aws.region,
            access_key_id=stack.aws.access_key_id,
            secret_access_key=stack.aws.secret_access_key,
        ),
        database_url=database_url,
        **{"sink_batch_size": 2000, "sink_batch_seconds": 0.2, "retry_backoff_cap": 2.0, **overrides},
    )
    registry = load_registry(extra_datasets).qualified(settings.topics)
    bucket = f"pipe-{unique}"
    session = aioboto3.Session()
    async with session.client("s3", **stack.aws.client_kwargs()) as s3:
        await s3.create_bucket(Bucket=bucket)
    pipeline = Pipeline(settings, registry, run_sinks=run_sinks)
    await pipeline.start()
    try:
        yield Harness(stack, unique, bucket, database_url, settings, registry, pipeline)
    finally:
        await pipeline.stop()
