"""What `status` and `replay` print: aligned tables, one file's facts, reject reasons, a reset plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from streamproc.cli import views
from streamproc.kafka import resets

T0 = datetime(2026, 3, 1, 12, 0, 5, 123456, tzinfo=UTC)


def ledger_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": 7, "bucket": "drop", "key": "pharmacy_claims/a.csv", "version": "0123456789abcdef0123",
        "etag": "0123456789abcdef0123", "dataset": "pharmacy_claims", "status": "PARTIAL", "size": 123456,
        "event_time": T0, "rows_read": 2000,
        "rows_valid": 1990, "rows_rejected": 10, "rows_loaded": 1990, "rows_sink_rejected": 0, "rows_dead_lettered": 10,
        "unknown_columns": 1, "error_summary": None, "attempts": 2, "duplicate_events": 2,
        "last_duplicate_at": T0 + timedelta(minutes=5), "received_at": T0, "started_at": T0,
        "finished_at": T0 + timedelta(seconds=3), "reconciled": True, "duration_seconds": Decimal("3.2"),
    }  # fmt: skip
    return row | changes


def test_a_table_aligns_columns_and_right_aligns_numbers_without_trailing_spaces() -> None:
    lines = views.table(("NAME", "N", "NOTE"), [("a", 5, None), ("long name", 12345, "x")], numeric={1})
    assert lines == ["NAME           N  NOTE", "a              5  -", "long name  12345  x"]


def test_times_show_in_utc_to_the_second_whatever_zone_they_came_in() -> None:
    assert views.when(T0) == "2026-03-01 12:00:05Z"
    assert views.when(T0.astimezone(timezone(timedelta(hours=-5)))) == "2026-03-01 12:00:05Z"
    assert views.when(None) == "-"


def test_the_ledger_table_shows_counts_attempts_duplicates_and_the_file() -> None:
    header, line = views.ledger_table([ledger_row()])
    assert header.split() == [*views.LEDGER_HEADERS[:7], "RECEIVED", "VERSION", "FILE"]
    assert line.split() == [
        "PARTIAL", "pharmacy_claims", "2000", "1990", "10", "2", "2", "2026-03-01", "12:00:05Z", "0123456789ab…",
        "s3://drop/pharmacy_claims/a.csv",
    ]  # fmt: skip


def test_one_file_shows_its_reconciliation_attempts_duplicates_and_times() -> None:
    report = "\n".join(views.file_report(ledger_row(), versions=3))
    assert report.startswith("s3://drop/pharmacy_claims/a.csv\n")
    assert "PARTIAL (read 2000 = loaded 1990 + dead-lettered 10)" in report
    assert "attempts    2" in report
    assert "2 event(s) skipped, last 2026-03-01 12:05:05Z" in report
    assert "finished    2026-03-01 12:00:08Z (took 3.2 s)" in report
    assert "3 in the ledger" in report


def test_a_file_that_does_not_reconcile_says_so() -> None:
    assert "read 2000 ≠ loaded 1 + dead-lettered 10" in views.reconciliation(
        ledger_row(rows_loaded=1, reconciled=False)
    )


def test_reject_reasons_name_lines_fields_and_rules() -> None:
    errors = [
        {"field": "ndc", "rule": "ndc_format", "message": "is not an NDC"},
        {"field": "copay", "rule": "required", "message": "is required"},
    ]
    lines = views.reject_lines([{"line": 12, "stage": "split", "error_class": "InvalidRow", "errors": errors}])
    assert lines[1].split()[0:3] == ["12", "split", "InvalidRow"]
    assert lines[1].endswith("ndc: ndc_format (is not an NDC); copay: required (is required)")


def test_a_plan_shows_current_new_and_lag_before_and_after_per_partition() -> None:
    plan = resets.ResetPlan(
        group_id="g",
        spec=resets.ToEarliest(),
        partitions=(
            resets.PartitionReset(topic="t", partition=0, current=40, new=10, log_end=100),
            resets.PartitionReset(topic="t", partition=1, current=None, new=0, log_end=10),
        ),
    )
    assert [line.split() for line in views.plan_lines(plan)] == [
        ["TOPIC", "PARTITION", "CURRENT", "NEW", "LAG", "NOW", "LAG", "AFTER"],
        ["t", "0", "40", "10", "60", "90"],
        ["t", "1", "-", "0", "-", "10"],
    ]


def test_a_group_line_names_its_active_members() -> None:
    member = resets.Member(member_id="m-1", client_id="worker-1", host="/10.0.0.5")
    busy = resets.GroupDescription(
        group_id="g", state="Stable", protocol_type="consumer", members=(member,), committed={}
    )
    assert views.group_line(busy) == "group g (Stable; worker-1@/10.0.0.5)"
    assert views.spec_text(resets.ShiftBy(-3)) == "--shift-by -3"
