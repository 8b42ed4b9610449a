"""What `tail` reads and shows: windows per partition, the newest (or oldest) events, JSON lines with PHI masked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from streamproc.cli import tail_format
from streamproc.contract.events import ENCODER, ObjectEvent, Provenance
from streamproc.datasets.registry import load_registry
from streamproc.shared.settings import TopicSettings
from streamproc.topics.contract import resolve_topic

REGISTRY = load_registry()
TOPICS = TopicSettings()
CLAIMS = resolve_topic("pharmacy_claims", TOPICS, REGISTRY)


@dataclass(frozen=True)
class Seen:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


def claim_event(member_id: str = "M-SECRET-1") -> bytes:
    dataset = REGISTRY.by_name("pharmacy_claims")
    row = dataset.validate(
        {
            "claim_id": "C1", "member_id": member_id, "rx_number": "RX1", "fill_date": "2026-01-02",
            "ndc": "12345-6789-01", "quantity": "30", "days_supply": "30", "prescriber_npi": "1234567893",
            "pharmacy_npi": "1234567893", "ingredient_cost": "10.00", "dispensing_fee": "1.00", "copay": "0",
            "total_paid": "11.00", "claim_status": "paid",
        }
    )  # fmt: skip
    assert isinstance(row, msgspec.Struct)
    provenance = Provenance(bucket="b", key="k.csv", version="v", line=2, event_time=datetime(2026, 1, 2, tzinfo=UTC))
    return ENCODER.encode(dataset.event(row, provenance))


def seen(value: bytes | None, *, partition: int = 0, offset: int = 0, ts: int = 0, key: bytes | None = b"C1") -> Seen:
    return Seen("claims.pharmacy", partition, offset, ts, key, value)


def test_the_newest_window_takes_the_last_n_of_each_partition_and_the_oldest_the_first_n() -> None:
    bounds = {0: (10, 100), 1: (0, 3), 2: (5, 5)}
    assert tail_format.window(bounds, 5, from_beginning=False) == {0: (95, 100), 1: (0, 3), 2: (5, 5)}
    assert tail_format.window(bounds, 5, from_beginning=True) == {0: (10, 15), 1: (0, 3), 2: (5, 5)}
    assert tail_format.window(bounds, None, from_beginning=False) == bounds


def test_pick_keeps_the_newest_or_oldest_events_across_partitions_in_time_order() -> None:
    events = [seen(None, partition=p, offset=o, ts=t) for p, o, t in [(0, 1, 30), (1, 7, 10), (0, 2, 40), (1, 8, 20)]]
    newest = tail_format.pick(events, 2, from_beginning=False)
    oldest = tail_format.pick(events, 3, from_beginning=True)
    assert [(e.partition, e.offset) for e in newest] == [(0, 1), (0, 2)]
    assert [(e.partition, e.offset) for e in oldest] == [(1, 7), (1, 8), (0, 1)]
    assert tail_format.pick(events, 0, from_beginning=False) == []


def test_a_row_event_shows_where_and_when_with_its_phi_fields_masked() -> None:
    shown = json.loads(tail_format.line(seen(claim_event(), partition=2, offset=9, ts=1_767_225_600_000), CLAIMS))
    assert (shown["topic"], shown["partition"], shown["offset"], shown["key"]) == ("claims.pharmacy", 2, 9, "C1")
    assert shown["timestamp"] == "2026-01-01T00:00:00.000+00:00"
    assert shown["value"]["row"]["member_id"] == "***"
    assert shown["value"]["row"]["ndc"] == "12345678901"
    assert shown["value"]["provenance"]["line"] == 2


def test_unmasked_shows_the_row_as_it_is() -> None:
    shown = json.loads(tail_format.line(seen(claim_event()), CLAIMS, unmasked=True))
    assert shown["value"]["row"]["member_id"] == "M-SECRET-1"


def test_a_value_that_is_not_the_topics_type_shows_only_its_fingerprint() -> None:
    for body in (b"M-SECRET-1,not json", b'{"row": {"member_id": "M-SECRET-1"}}'):
        line = tail_format.line(seen(body), CLAIMS)
        assert "SECRET" not in line
        assert json.loads(line)["undecodable"].startswith(f"unparsed body withheld: {len(body)} bytes")
    assert json.loads(tail_format.line(seen(b"M-SECRET-1,x"), CLAIMS, unmasked=True))["raw"] == "M-SECRET-1,x"


def test_object_events_and_tombstones_show_as_they_are() -> None:
    objects = resolve_topic("objects", TOPICS, REGISTRY)
    event = ObjectEvent(
        bucket="b", key="k.csv", event_name="ObjectCreated:Put", event_time=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert json.loads(tail_format.line(seen(ENCODER.encode(event)), objects))["value"]["key"] == "k.csv"
    assert json.loads(tail_format.line(seen(None, key=None), objects))["value"] is None
