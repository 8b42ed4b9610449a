"""Which groups and topics `replay` resets: the sink groups by default, or the groups and datasets named."""

from __future__ import annotations

import pytest

from streamproc.cli.errors import BadUsage
from streamproc.cli.replay import Target, targets
from streamproc.datasets.registry import load_registry
from streamproc.worker.settings import WorkerSettings

SETTINGS = WorkerSettings.from_env({"STREAMPROC_APP_ID": "app", "STREAMPROC_TOPIC_NAMESPACE": "ns."})
REGISTRY = load_registry().qualified(SETTINGS.topics)


def test_by_default_every_sink_group_on_its_own_topic() -> None:
    assert targets(SETTINGS, REGISTRY, (), (), ()) == [
        Target("app-sink-audit_records", ("ns.audit.records",), default=True),
        Target("app-sink-pharmacy_claims", ("ns.claims.pharmacy",), default=True),
    ]


def test_a_topic_alone_picks_the_sink_group_that_reads_it() -> None:
    assert targets(SETTINGS, REGISTRY, (), (), ("claims.pharmacy",)) == [
        Target("app-sink-pharmacy_claims", ("ns.claims.pharmacy",), default=True)
    ]
    with pytest.raises(BadUsage, match=r"no sink group reads ns\.ingest\.objects"):
        targets(SETTINGS, REGISTRY, (), (), ("objects",))


def test_named_groups_take_the_topics_given_or_those_they_committed_to() -> None:
    assert targets(SETTINGS, REGISTRY, ("analytics",), ("audit_records",), ("pharmacy_claims", "other.topic")) == [
        Target("analytics", ("ns.claims.pharmacy", "other.topic")),
        Target("app-sink-audit_records", ("ns.claims.pharmacy", "other.topic")),
    ]
    assert targets(SETTINGS, REGISTRY, ("analytics",), (), ()) == [Target("analytics", ())]
