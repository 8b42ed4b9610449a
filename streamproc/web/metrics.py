"""/metrics: a custom prometheus_client Collector that reads the stats dataclasses and the monitor's polled state.

The counters live in one place (FanOutStats, SinkStats); this module only translates them at scrape time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from streamproc.adapters.ledger_reader import Decided
from streamproc.datasets.model import Dataset
from streamproc.ingest.ledger import STATUSES
from streamproc.ingest.sink_batch import SinkStats
from streamproc.ingest.split_context import FanOutStats
from streamproc.shared.histogram import Histogram
from streamproc.web.health import Check
from streamproc.web.lag import PartitionLag


class SinkView(Protocol):
    """What the collector reads of one sink (streamproc.ingest.sink.SinkConsumer)."""

    @property
    def dataset(self) -> Dataset: ...
    @property
    def stats(self) -> SinkStats: ...


class MonitorView(Protocol):
    """What the collector reads at scrape time (streamproc.web.monitor.Monitor; a plain object in unit tests)."""

    @property
    def fanout_stats(self) -> FanOutStats: ...
    @property
    def sinks(self) -> Sequence[SinkView]: ...
    @property
    def status_counts(self) -> Mapping[str, int]: ...
    @property
    def stalled(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def decided(self) -> Decided: ...
    @property
    def lag(self) -> Sequence[PartitionLag]: ...
    @property
    def health(self) -> Mapping[str, Check]: ...


class PipelineCollector(Collector):
    """Rows produced / loaded / dead-lettered per dataset, files by status, sink histograms, lag, S3 bytes."""

    def __init__(self, monitor: MonitorView) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        yield from self._rows()
        yield from self._sinks()
        yield from self._files()
        yield self._lag()
        yield from self._fanout()
        yield self._health()

    def _rows(self) -> Iterator[CounterMetricFamily]:
        fanout = self.monitor.fanout_stats
        produced = CounterMetricFamily(
            "streamproc_rows_produced", "Valid rows the fan-out produced to their dataset's topic.", labels=["dataset"]
        )
        loaded = CounterMetricFamily(
            "streamproc_rows_loaded", "Rows the dataset's sink wrote to PostgreSQL.", labels=["dataset"]
        )
        dead = CounterMetricFamily(
            "streamproc_rows_dead_lettered",
            "Rows dead-lettered: by validation (stage split) or refused by the database (stage sink).",
            labels=["dataset", "stage"],
        )
        for sink in self.monitor.sinks:
            name = sink.dataset.name
            produced.add_metric([name], fanout.rows_by_dataset.get(name, 0))
            loaded.add_metric([name], sink.stats.rows_written)
            dead.add_metric([name, "split"], fanout.rejected_by_dataset.get(name, 0))
            dead.add_metric([name, "sink"], sink.stats.rows_rejected)
        yield from (produced, loaded, dead)

    def _sinks(self) -> Iterator[HistogramMetricFamily | CounterMetricFamily | GaugeMetricFamily]:
        sizes = HistogramMetricFamily(
            "streamproc_sink_batch_rows", "Rows per sink batch written to PostgreSQL.", labels=["dataset"]
        )
        seconds = HistogramMetricFamily(
            "streamproc_sink_write_seconds",
            "Seconds per sink batch, from the write's start to the offset commit.",
            labels=["dataset"],
            unit="seconds",
        )
        failures = CounterMetricFamily(
            "streamproc_sink_commit_failures",
            "Offset commits a sink lost (the batch is read again).",
            labels=["dataset"],
        )
        restarts = CounterMetricFamily(
            "streamproc_sink_restarts", "Times a sink stopped on an error and was started again.", labels=["dataset"]
        )
        failing = GaugeMetricFamily(
            "streamproc_sink_failing_seconds",
            "Seconds since the sink's first failure with no batch written since (0: writing normally).",
            labels=["dataset"],
            unit="seconds",
        )
        now = time.time()
        for sink in self.monitor.sinks:
            name, stats = sink.dataset.name, sink.stats
            _add_histogram(sizes, name, stats.batch_rows)
            _add_histogram(seconds, name, stats.write_seconds)
            failures.add_metric([name], stats.commit_failures)
            restarts.add_metric([name], stats.restarts)
            failing.add_metric([name], 0.0 if stats.failing_since is None else max(0.0, now - stats.failing_since))
        yield from (sizes, seconds, failures, restarts, failing)

    def _files(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        files = GaugeMetricFamily(
            "streamproc_files", "File versions in the ledger per status (as of the last poll).", labels=["status"]
        )
        counts = self.monitor.status_counts
        for status in (*STATUSES, *sorted(set(counts) - set(STATUSES))):
            files.add_metric([status], counts.get(status, 0))
        yield files
        yield GaugeMetricFamily(
            "streamproc_files_stalled",
            "Unfinished file versions with no live claim and no progress for STREAMPROC_STALL_SECONDS "
            "(as of the last poll; at most 100 counted).",
            value=len(self.monitor.stalled),
        )
        decided = self.monitor.decided
        yield GaugeMetricFamily(
            "streamproc_held_oldest_age_seconds",
            "Seconds since the oldest HELD file was held, waiting for `release` or `decline` (0: none waits; as of "
            "the last poll).",
            value=decided.oldest_held or 0.0,
        )
        decisions = CounterMetricFamily(
            "streamproc_decisions", "Decisions on HELD files the ledger keeps, per action.", labels=["action"]
        )
        for action in ("release", "decline"):
            decisions.add_metric([action], decided.by_action.get(action, 0))
        yield decisions

    def _lag(self) -> GaugeMetricFamily:
        lag = GaugeMetricFamily(
            "streamproc_consumer_lag",
            "Records not yet committed by the group: log end offset minus committed offset (as of the last poll).",
            labels=["group", "topic", "partition"],
        )
        for p in self.monitor.lag:
            lag.add_metric([p.group, p.topic, str(p.partition)], p.lag)
        return lag

    def _fanout(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self.monitor.fanout_stats
        yield CounterMetricFamily(
            "streamproc_s3_read_bytes", "Bytes the fan-out read from S3.", value=stats.bytes_read, unit="bytes"
        )
        yield CounterMetricFamily(
            "streamproc_duplicate_events", "Object events for a version already processed (skipped).", stats.duplicates
        )
        yield CounterMetricFamily(
            "streamproc_s3_stream_retries", "Times a broken S3 stream was read again.", value=stats.stream_retries
        )
        yield CounterMetricFamily(
            "streamproc_claims_lost",
            "Splits this worker stopped because another worker took their claim over (this one had been paused).",
            value=stats.claims_lost,
        )
        yield GaugeMetricFamily(
            "streamproc_newer_schema_events_held",
            "1 while the fan-out holds an object event of a newer schema version until this worker is upgraded.",
            value=0 if stats.newer_events is None else 1,
        )

    def _health(self) -> GaugeMetricFamily:
        up = GaugeMetricFamily(
            "streamproc_dependency_up", "1 if the service answered the last health check.", labels=["service"]
        )
        for name, verdict in sorted(self.monitor.health.items()):
            up.add_metric([name], 1 if verdict.ok else 0)
        return up


def _add_histogram(family: HistogramMetricFamily, label: str, histogram: Histogram) -> None:
    family.add_metric([label], [(le, float(n)) for le, n in histogram.cumulative()], sum_value=histogram.total)


def registry_for(monitor: MonitorView) -> CollectorRegistry:
    """A registry of its own (not the process-wide default) holding only the pipeline's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(monitor))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The Prometheus text format of everything in `registry`."""
    return generate_latest(registry)
