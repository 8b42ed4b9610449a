"""`reprocess` re-emits a ledger row's object event: forced, with the original event time, size, ETag and version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streamproc.cli.reprocess import forced_event
from streamproc.ingest.object_events import REPROCESS as EVENT_NAME

T0 = datetime(2026, 3, 1, 12, 0, 5, 123000, tzinfo=UTC)


def row(**changes: Any) -> dict[str, Any]:
    base = {"bucket": "drop", "key": "a.csv", "version": "etag1", "etag": "etag1", "size": 99, "event_time": T0}
    return base | {"received_at": datetime(2026, 3, 1, 13, tzinfo=UTC)} | changes


def test_the_event_is_forced_and_keeps_time_size_and_etag() -> None:
    event = forced_event(row())
    assert (event.bucket, event.key, event.size, event.etag, event.event_time) == ("drop", "a.csv", 99, "etag1", T0)
    assert (event.forced, event.event_name, event.version_id, event.version) == (True, EVENT_NAME, None, "etag1")
    assert event.message_key == "drop/a.csv"


def test_a_versioned_objects_version_id_is_kept() -> None:
    event = forced_event(row(version="3HL4kqtJlcpXroDTDmJ"))
    assert (event.version_id, event.version) == ("3HL4kqtJlcpXroDTDmJ", "3HL4kqtJlcpXroDTDmJ")
