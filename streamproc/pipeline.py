"""The worker's long-lived parts (database, S3, producer, sinks) as one mode.Service the Faust app starts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from mode import Service

from streamproc.adapters.kafka import TopicSpec, ensure_topics
from streamproc.adapters.postgres import Database
from streamproc.adapters.producer import Producer
from streamproc.adapters.s3 import S3Reader
from streamproc.datasets.registry import Registry
from streamproc.fanout import FanOut
from streamproc.retry import retry_transient
from streamproc.settings import WorkerSettings
from streamproc.sinks import SinkConsumer

logger = logging.getLogger(__name__)


def topic_specs(settings: WorkerSettings, registry: Registry) -> list[TopicSpec]:
    """Every topic of the pipeline, with partitions, replication and retention from settings."""
    t = settings.topics
    names = [t.objects, t.deadletter, *(dataset.topic for dataset in registry)]
    config = {"retention.ms": str(t.retention_ms)}
    return [TopicSpec(name=name, partitions=t.partitions, replication=t.replication, config=config) for name in names]


class Pipeline(Service):
    """Starts adapters (retrying until the services answer), runs one sink per dataset, stops cleanly."""

    def __init__(self, settings: WorkerSettings, registry: Registry, *, run_sinks: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_sinks = run_sinks
        self.settings = settings
        self.registry = registry
        self.db = Database(settings.database_url)
        self.s3 = S3Reader(settings.aws.client_kwargs(), settings.s3_chunk_size)
        self.producer = Producer(settings.kafka)
        self.fanout = FanOut(
            registry=registry,
            db=self.db,
            s3=self.s3,
            producer=self.producer,
            deadletter_topic=settings.topics.deadletter,
            window=settings.produce_window,
            backoff_cap=settings.retry_backoff_cap,
        )
        self.sinks = [
            SinkConsumer(
                dataset=dataset,
                group_id=f"{settings.app_id}-sink-{dataset.name}",
                kafka=settings.kafka,
                db=self.db,
                producer=self.producer,
                deadletter_topic=settings.topics.deadletter,
                batch_size=settings.sink_batch_size,
                batch_seconds=settings.sink_batch_seconds,
                backoff_cap=settings.retry_backoff_cap,
            )
            for dataset in registry
        ]
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._sink_tasks: list[asyncio.Task[None]] = []

    async def on_start(self) -> None:
        await retry_transient(self._connect, what="pipeline start", cap=self.settings.retry_backoff_cap)
        if self.run_sinks:
            self._sink_tasks = [asyncio.create_task(self._keep_running(sink)) for sink in self.sinks]
        self.ready.set()
        logger.info("pipeline ready: %d datasets, sinks %s", len(self.sinks), [s.group_id for s in self.sinks])

    async def _connect(self) -> None:
        await ensure_topics(self.settings.kafka, topic_specs(self.settings, self.registry))
        await self.db.start()
        applied = await self.db.migrate(self.registry)
        if applied:
            logger.info("applied migrations %s", ", ".join(applied))
        await self.s3.start()
        await self.producer.start()

    async def _keep_running(self, sink: SinkConsumer) -> None:
        while not self._stopping.is_set():
            try:
                await sink.run(self._stopping)
            except Exception:
                # A sink must outlive broker outages: log, wait, start a new consumer.
                logger.exception("sink %s stopped unexpectedly; restarting", sink.dataset.name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=2.0)

    async def on_stop(self) -> None:
        self._stopping.set()
        await asyncio.gather(*self._sink_tasks, return_exceptions=True)
        await self.producer.stop()
        await self.s3.stop()
        await self.db.stop()
