"""The stats page's background half: samples throughput every second; polls health, lag and ledger counts.

Views read what the Monitor holds (or ask its ledger reader); nothing here runs per request except the
live health checks of /healthz/.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from mode import Service

from streamproc.adapters.bridge_health import BridgeHealth
from streamproc.adapters.ledger_reader import Decided, LedgerReader
from streamproc.adapters.s3 import S3Reader
from streamproc.datasets.registry import Registry
from streamproc.ingest.sink import SinkConsumer
from streamproc.ingest.split_context import FanOutStats
from streamproc.kafka.errors import KafkaUnavailable
from streamproc.kafka.groups import GroupAdmin
from streamproc.shared.errors import StreamprocError
from streamproc.shared.logs import describe
from streamproc.web.health import (
    FILES,
    KAFKA,
    POSTGRES,
    S3,
    SINKS,
    SQS,
    Check,
    SinkState,
    check,
    files_check,
    pending,
    sinks_check,
)
from streamproc.web.lag import LagProblem, PartitionLag
from streamproc.web.lag_reader import kafka_answers, read_lag, watched_groups
from streamproc.web.throughput import Throughput, TopicRate
from streamproc.worker.pipeline import Pipeline
from streamproc.worker.settings import WorkerSettings

logger = logging.getLogger(__name__)

CHECK_TIMEOUT = 3.0  # seconds one health probe may take before it counts as no answer
SAMPLE_EVERY = 1.0  # seconds between throughput samples


class Monitor(Service):
    """Owns the page's read-only adapters and the polled state; started with the Faust app."""

    def __init__(self, settings: WorkerSettings, registry: Registry, pipeline: Pipeline, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.registry = registry
        self.pipeline = pipeline
        self.ledger = LedgerReader(settings.database_url)
        self.s3 = S3Reader(settings.aws.client_kwargs())
        self.bridge = BridgeHealth(settings.bridge_health_url, timeout=CHECK_TIMEOUT)
        self.watched = watched_groups(settings, registry)
        self.throughput = Throughput()
        self.health: dict[str, Check] = {name: pending(name) for name in (KAFKA, POSTGRES, S3, SQS, SINKS, FILES)}
        self.stalled: list[dict[str, Any]] = []
        self.lag: list[PartitionLag] = []
        self.lag_problems: list[LagProblem] = []
        self.lag_read_at: datetime | None = None
        self.status_counts: dict[str, int] = {}
        self.decided = Decided()
        self._admin: GroupAdmin | None = None
        self._admin_lock = asyncio.Lock()

    async def on_start(self) -> None:
        await self.ledger.start()
        await self.s3.start()
        await self.bridge.start()

    async def on_stop(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            await admin.close()
        await self.bridge.stop()
        await self.s3.stop()
        await self.ledger.stop()

    @Service.task
    async def _sampling(self) -> None:
        while not self.should_stop:
            self.throughput.sample(time.monotonic(), self.counters())
            await self.sleep(SAMPLE_EVERY)

    @Service.task
    async def _polling(self) -> None:
        while not self.should_stop:
            try:
                await self.poll()
            except Exception:
                # A bug must not end the polling for the worker's lifetime; the traceback renders without text.
                logger.exception("stats page: polling failed")
            await self.sleep(self.settings.web_poll_seconds)

    async def poll(self) -> None:
        """Health of every service, then lag (if Kafka answers) and the ledger's status counts (if PostgreSQL does)."""
        services = {c.name: c for c in await self.check_health([KAFKA, POSTGRES, S3, SQS])}
        if services[POSTGRES].ok:
            try:
                self.status_counts = await asyncio.wait_for(self.ledger.status_counts(), CHECK_TIMEOUT)
                self.decided = await asyncio.wait_for(self.ledger.decisions(), CHECK_TIMEOUT)
                self.stalled = await asyncio.wait_for(
                    self.ledger.stalled(quiet=self.settings.stall_seconds), CHECK_TIMEOUT
                )
            except (StreamprocError, TimeoutError) as exc:
                logger.warning("stats page: ledger status counts unavailable (%s)", describe(exc))
        self.health = services | {c.name: c for c in self.work_checks()}
        if self.health[KAFKA].ok:
            await self._read_lag()

    def work_checks(self) -> list[Check]:
        """The sinks' state now and the unfinished files of the last poll: problems no restart cures."""
        now, after = time.time(), self.settings.stall_seconds
        sinks = [
            SinkState(
                dataset=s.dataset.name,
                failing_since=s.stats.failing_since,
                last_error=s.stats.last_error,
                restarts=s.stats.restarts,
            )
            for s in self.pipeline.sinks
        ]
        return [sinks_check(sinks, now=now, after=after), files_check(self.stalled, after=after, now=now)]

    async def check_health(self, names: list[str]) -> list[Check]:
        """The named services' health, checked now, concurrently."""
        probes = {KAFKA: self._kafka, POSTGRES: self.ledger.ping, S3: self._s3, SQS: self.bridge.sqs}
        return list(await asyncio.gather(*(check(name, probes[name], CHECK_TIMEOUT) for name in names)))

    async def _kafka(self) -> None:
        async with self._admin_lock:
            if self._admin is None:
                admin = GroupAdmin(self.settings.kafka, timeout=CHECK_TIMEOUT - 0.5)
                await admin.start()  # KafkaUnavailable unless the cluster answers
                self._admin = admin
        await kafka_answers(self._admin)

    async def _s3(self) -> None:
        await self.s3.ping(self.settings.bucket)

    async def _read_lag(self) -> None:
        if self._admin is None:
            return
        try:
            self.lag, self.lag_problems = await read_lag(self._admin, self.watched)
            self.lag_read_at = datetime.now(UTC)
        except KafkaUnavailable as exc:
            logger.warning("stats page: lag not read (%s)", describe(exc))

    @property
    def fanout_stats(self) -> FanOutStats:
        """The fan-out's counters since start."""
        return self.pipeline.fanout.stats

    @property
    def sinks(self) -> Sequence[SinkConsumer]:
        """The worker's sinks (one per dataset), each with its counters."""
        return self.pipeline.sinks

    def counters(self) -> dict[str, int]:
        """Cumulative row counts per topic, from the fan-out's and the sinks' stats (the one set of counters)."""
        fanout = self.pipeline.fanout.stats
        out: dict[str, int] = {}
        for sink in self.pipeline.sinks:
            d = sink.dataset
            out[f"in:{d.topic}"] = fanout.rows_by_dataset.get(d.name, 0)
            out[f"out:{d.topic}"] = sink.stats.rows_written + sink.stats.rows_rejected
        return out

    def rates(self) -> list[TopicRate]:
        t = self.throughput
        return [
            TopicRate(
                topic=s.dataset.topic,
                dataset=s.dataset.name,
                produced=t.rate(f"in:{s.dataset.topic}"),
                consumed=t.rate(f"out:{s.dataset.topic}"),
                series=t.series(f"out:{s.dataset.topic}"),
            )
            for s in self.pipeline.sinks
        ]
