"""The worker's long-lived parts (database, S3, producer, fan-out, sinks) as one mode.Service the Faust app starts."""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from pathlib import Path
from typing import Any

from mode import Service

from streamproc.adapters.ledger_store import LedgerStore
from streamproc.adapters.manifest_store import ManifestStore
from streamproc.adapters.postgres import Database
from streamproc.adapters.receipt_outbox import ReceiptOutbox
from streamproc.adapters.row_store import RowStore
from streamproc.adapters.s3 import S3Reader
from streamproc.datasets.model import Dataset
from streamproc.datasets.registry import Registry
from streamproc.ingest.deadletter_writer import DeadLetterWriter
from streamproc.ingest.fanout import FanOut
from streamproc.ingest.groups import sink_group
from streamproc.ingest.manifests import ManifestSweeper
from streamproc.ingest.receipts import ReceiptWriter
from streamproc.ingest.sink import SinkConsumer, keep_running
from streamproc.ingest.split_context import SplitPolicy
from streamproc.kafka.admin import TopicSpec, ensure_topics, topic_specs
from streamproc.kafka.consumer import BatchConsumer
from streamproc.kafka.members import leave_static
from streamproc.kafka.producer import Producer
from streamproc.kafka.reader import TopicReader
from streamproc.shared.errors import StreamprocError
from streamproc.shared.faults import Faults
from streamproc.shared.logs import install_log_format
from streamproc.shared.retry import Backoff, retry_transient
from streamproc.worker.settings import WorkerSettings

logger = logging.getLogger(__name__)

FANOUT_STOP_GRACE = 5.0  # seconds a stopping worker waits for the split in hand to let go of its claim


def pipeline_topics(settings: WorkerSettings, registry: Registry) -> list[TopicSpec]:
    """Every topic of the pipeline, with partitions, replication and retention from settings."""
    t = settings.topics
    return topic_specs(t, [t.objects, t.deadletter, *(dataset.topic for dataset in registry)])


class Pipeline(Service):
    """Starts adapters (retrying until the services answer), runs one sink per dataset, stops cleanly."""

    def __init__(
        self,
        settings: WorkerSettings,
        registry: Registry,
        *,
        run_sinks: bool = True,
        leave_on_stop: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.run_sinks = run_sinks
        self.leave_on_stop = leave_on_stop  # the worker's Faust consumer is a static member of the app's group
        self.settings = settings
        self.registry = registry
        self.db = Database(settings.database_url)
        self.ledger = LedgerStore(self.db)
        self.faults = Faults.parse(settings.faults)
        self.rows = RowStore(self.db, self.faults)
        self.s3 = S3Reader(settings.aws.client_kwargs(), settings.s3_chunk_size)
        self.producer = Producer(settings.kafka)
        self.letters = DeadLetterWriter(
            self.producer, settings.topics.deadletter, backoff_cap=settings.retry_backoff_cap
        )
        self.reader = TopicReader(settings.kafka)
        self.fanout = self.new_fanout(settings.member_name)
        self.sinks = [self.new_sink(dataset) for dataset in registry]
        self.sweeper = ManifestSweeper(
            self.fanout.context, self.fanout.manifests or ManifestStore(self.db),
            every=max(1.0, min(30.0, settings.manifest_wait_seconds / 4)),
        )  # fmt: skip
        self.receipts = ReceiptWriter(
            ReceiptOutbox(self.db), self.s3, settings.receipt_prefix, backoff_cap=settings.retry_backoff_cap
        )
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._running: list[asyncio.Task[None]] = []

    def new_fanout(self, owner: str) -> FanOut:
        """The fan-out on this pipeline's adapters, claiming files as `owner` (tests make a second worker's)."""
        s = self.settings
        policy = SplitPolicy(
            window=s.produce_window,
            backoff_cap=s.retry_backoff_cap,
            owner=owner,
            lease=s.claim_lease,
            limits=s.limits,
            faults=self.faults,
            spool_dir=Path(s.spool_dir) if s.spool_dir else None,
            spool_bytes=s.spool_max_bytes,
            manifest_wait=s.manifest_wait_seconds,
            objects_topic=s.topics.objects,
        )
        return FanOut(
            registry=self.registry,
            ledger=self.ledger,
            store=self.s3,
            producer=self.producer,
            reader=self.reader,
            letters=self.letters,
            policy=policy,
            manifests=ManifestStore(self.db),
        )

    def new_sink(
        self, dataset: Dataset, *, group_id: str | None = None, member: str | None = None, **overrides: Any
    ) -> SinkConsumer:
        """The sink of `dataset` on this pipeline's adapters; tests and the benchmark override its knobs (and store).

        `member` is its static group member id (default: this worker's); two sinks in one group with the same id
        fence each other, as two workers started with one STREAMPROC_INSTANCE_ID would."""
        s = self.settings
        options: dict[str, Any] = {
            "batch_size": s.sink_batch_size,
            "batch_seconds": s.sink_batch_seconds,
            "backoff_cap": s.retry_backoff_cap,
            **overrides,
        }
        source = partial(
            BatchConsumer,
            s.kafka,
            [dataset.topic],
            group_id or sink_group(s.app_id, dataset),
            max_records=options["batch_size"],
            # A batch of 5000 events is ~3 MB: more prefetch buys no speed and grows memory with the backlog.
            fetch_max_bytes=8 << 20,
            max_partition_fetch_bytes=2 << 20,
            group_instance_id=member or s.member_name,  # static, like the fan-out agent (see app._app_options)
            session_timeout_ms=int(s.session_timeout * 1000),
            heartbeat_interval_ms=int(max(1.0, s.session_timeout / 4) * 1000),
        )
        wiring: dict[str, Any] = {
            "dataset": dataset,
            "source": source,
            "store": self.rows,
            "letters": self.letters,
            "faults": self.faults,
        }
        return SinkConsumer(**wiring | options)

    async def on_start(self) -> None:
        install_log_format(self.settings.log_format)  # after Faust's logging setup: safe exceptions (+ JSON)
        await retry_transient(
            self._connect, what="pipeline start", backoff=Backoff(0.2, self.settings.retry_backoff_cap)
        )
        if self.run_sinks:
            self._running = [
                asyncio.create_task(keep_running(sink, self._stopping, cap=self.settings.retry_backoff_cap))
                for sink in self.sinks
            ]
        self._running.append(asyncio.create_task(self.sweeper.run(self._stopping)))
        if self.settings.receipt_prefix:
            self._running.append(asyncio.create_task(self.receipts.run(self._stopping)))
        self.ready.set()
        if not self.settings.controls:
            logger.warning("STREAMPROC_CONTROLS is off: no dataset's file-level controls apply (never in production)")
        logger.info("pipeline ready: %d datasets, sinks %s", len(self.sinks), [s.dataset.name for s in self.sinks])

    async def _connect(self) -> None:
        await ensure_topics(self.settings.kafka, pipeline_topics(self.settings, self.registry))
        await self.db.start()
        applied = await self.db.migrate(self.registry)
        if applied:
            logger.info("applied migrations %s", ", ".join(applied))
        await self.s3.start()
        await self.producer.start()
        await self.reader.start()

    async def _leave_groups(self) -> None:
        """Static members do not leave when they stop: leave on purpose, so the partitions move on (and a
        replay may run) now rather than after the session timeout."""
        groups = (
            [self.settings.app_id, *(sink_group(self.settings.app_id, d) for d in self.registry)]
            if self.run_sinks
            else []
        )
        for group in groups:
            try:
                await leave_static(self.settings.kafka, group, [self.settings.member_name])
            except StreamprocError as exc:
                logger.warning("group %s: could not leave (%s); its session expires on its own", group, exc)

    async def on_stop(self) -> None:
        # First the fan-out, while the ledger, S3 and Kafka are still up: the split in hand releases its claim.
        await self.fanout.stop(grace=FANOUT_STOP_GRACE)
        self._stopping.set()
        await asyncio.gather(*self._running, return_exceptions=True)
        await self._leave_groups()
        await self.producer.stop()
        await self.reader.stop()
        await self.s3.stop()
        await self.db.stop()
