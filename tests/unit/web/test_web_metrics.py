"""The worker's /metrics collector over a plain stand-in for the monitor: every counter it is given is exposed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from streamproc.adapters.ledger_reader import Decided
from streamproc.datasets.model import Dataset
from streamproc.datasets.registry import load_registry
from streamproc.ingest.sink_batch import SinkStats
from streamproc.ingest.split_context import FanOutStats, Position
from streamproc.web.health import Check
from streamproc.web.lag import PartitionLag
from streamproc.web.metrics import exposition, registry_for


@dataclass
class _Sink:
    dataset: Dataset
    stats: SinkStats = field(default_factory=SinkStats)


@dataclass
class _Monitor:
    fanout_stats: FanOutStats
    sinks: Sequence[_Sink]
    status_counts: Mapping[str, int] = field(default_factory=dict)
    stalled: Sequence[Mapping[str, Any]] = ()
    lag: Sequence[PartitionLag] = ()
    health: Mapping[str, Check] = field(default_factory=dict)
    decided: Decided = field(default_factory=Decided)


def _samples(monitor: _Monitor) -> dict[str, float]:
    text = exposition(registry_for(monitor)).decode()
    return {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples if not s.labels}


def test_lost_claims_and_a_held_newer_schema_event_are_on_metrics() -> None:
    sinks = [_Sink(d) for d in load_registry()]
    stats = FanOutStats(claims_lost=2, duplicates=3)
    idle = _samples(_Monitor(FanOutStats(), sinks))
    assert (idle["streamproc_claims_lost_total"], idle["streamproc_newer_schema_events_held"]) == (0, 0)
    stats.newer_events = Position(topic="ingest.objects", partition=1, offset=41)
    busy = _samples(_Monitor(stats, sinks))
    assert busy["streamproc_claims_lost_total"] == 2
    assert busy["streamproc_newer_schema_events_held"] == 1
    assert busy["streamproc_duplicate_events_total"] == 3


def _labelled(monitor: _Monitor, name: str) -> dict[str, float]:
    text = exposition(registry_for(monitor)).decode()
    families = text_string_to_metric_families(text)
    return {s.labels["action"]: s.value for f in families for s in f.samples if s.name == name}


def test_the_oldest_held_file_and_the_decisions_are_on_metrics() -> None:
    sinks = [_Sink(d) for d in load_registry()]
    none = _Monitor(FanOutStats(), sinks)
    some = _Monitor(FanOutStats(), sinks, decided=Decided(oldest_held=75.5, by_action={"release": 2}))
    assert _samples(none)["streamproc_held_oldest_age_seconds"] == 0
    assert _samples(some)["streamproc_held_oldest_age_seconds"] == 75.5
    assert _labelled(none, "streamproc_decisions_total") == {"release": 0, "decline": 0}
    assert _labelled(some, "streamproc_decisions_total") == {"release": 2, "decline": 0}
