"""The dashboard and file pages escape every value and show what the ledger says; the API shapes hold no value."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from streamproc.web import api, pages
from streamproc.web.health import Check
from streamproc.web.html import duration, esc, href, num, sparkline, when, yes_no
from streamproc.web.lag import PartitionLag
from streamproc.web.throughput import TopicRate

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HOSTILE = "claims/<script>alert(1)</script>\"'&<img src=x onerror=alert(2)>.csv"


def ledger_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": 7, "bucket": "drop", "key": HOSTILE, "version": "v1", "dataset": "pharmacy_claims", "status": "PARTIAL",
        "size": 123, "etag": "e", "event_time": NOW, "rows_read": 1000, "rows_valid": 990, "rows_rejected": 10,
        "rows_loaded": 990, "rows_sink_rejected": 0, "rows_dead_lettered": 10, "unknown_columns": 1,
        "split_done": True, "error_summary": "<b>bold</b>", "attempts": 1, "duplicate_events": 0,
        "last_duplicate_at": None, "received_at": NOW, "started_at": NOW, "finished_at": NOW + timedelta(seconds=2),
        "updated_at": NOW, "reconciled": True, "duration_seconds": Decimal("2.5"),
    }  # fmt: skip
    return row | overrides


def reject(line: int) -> dict[str, Any]:
    errors = [{"field": "claim_id", "rule": "pattern", "message": "must be <64 chars", "value": "SECRET"}]
    return {"file_id": 7, "key": HOSTILE, "line": line, "stage": "split", "error_class": "InvalidRow", "errors": errors}


def dashboard(**overrides: Any) -> str:
    view = pages.Dashboard(
        app_id="<app>", refresh=5, now=NOW,
        health=[Check(name="sqs", ok=False, reason="<bridge> said no", checked_at=NOW)],
        rates=[TopicRate(topic="claims.pharmacy", dataset="pharmacy_claims", produced=12.5, consumed=10.0,
                         series=[0.0, 5.0, 10.0])],
        lag=[PartitionLag(role="sink pharmacy_claims", group="g", state="Stable", members=1, topic="claims.pharmacy",
                          partition=0, committed=None, log_start=0, log_end=42)],
        lag_problems=[], lag_read_at=NOW, datasets=["pharmacy_claims"],
        status_counts={"PARTIAL": 1}, files=[ledger_row()], rejects=[reject(3)],
    )  # fmt: skip
    return pages.dashboard(replace(view, **overrides))


def test_a_hostile_key_reason_and_summary_render_as_text() -> None:
    html = dashboard()
    assert "<script>" not in html and "<img" not in html and "<b>bold" not in html and "<bridge>" not in html
    assert esc(HOSTILE) in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;&lt;img src=x onerror=alert(2)&gt;" in html
    page = pages.file_page(
        pages.FilePage(file=ledger_row(), rejects=[reject(3)], summary=[{"field": "<f>", "rule": "r", "n": 1}],
                       offset=0, limit=500, refresh=5, app_id="a")
    )  # fmt: skip
    assert "<script>" not in page and "<b>bold</b>" not in page and "<f>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "SECRET" not in page


def test_the_dashboard_shows_counts_reconciliation_duration_lag_and_a_sparkline() -> None:
    html = dashboard()
    assert '<meta http-equiv="refresh" content="5">' in html
    assert '<td class="num">1,000</td><td class="num">990</td><td class="num">10</td>' in html
    assert '<span class="yes">yes</span>' in html and "2.5 s" in html
    assert '<span class="lagging">42</span>' in html
    assert "<polyline" in html and "<script" not in html.lower()
    assert '<div class="check bad" data-check="sqs">' in html


def test_a_file_still_in_progress_is_neither_reconciled_nor_not() -> None:
    assert api.reconciled(ledger_row(status="PROCESSING", reconciled=False)) is None
    assert api.reconciled(ledger_row(status="PARTIAL", reconciled=False)) is False


def test_the_dashboard_says_so_when_the_ledger_does_not_answer() -> None:
    html = dashboard(status_counts=None, files=None, rejects=[], ledger_error="no answer within 5s")
    assert html.count("ledger unavailable: no answer within 5s") == 2


def test_filter_links_encode_their_values() -> None:
    assert href("/pipeline/", status="PARTIAL", dataset="a&b") == "/pipeline/?status=PARTIAL&amp;dataset=a%26b"
    assert href("/pipeline/", status=None) == "/pipeline/"


def test_api_shapes_hold_only_json_types_and_only_the_reasons() -> None:
    shaped = api.file_json(ledger_row())
    assert shaped["key"] == HOSTILE and shaped["reconciled"] is True
    assert shaped["duration_seconds"] == 2.5 and shaped["received_at"] == NOW.isoformat()
    letter = api.reject_json(reject(3))
    assert letter["errors"] == [{"field": "claim_id", "rule": "pattern", "message": "must be <64 chars"}]
    assert "SECRET" not in str(letter)


def test_lag_counts_from_the_log_start_when_nothing_is_committed_or_the_commit_was_deleted() -> None:
    def lag(committed: int | None, log_start: int, log_end: int) -> PartitionLag:
        return PartitionLag(role="r", group="g", state="Empty", members=0, topic="t", partition=0,
                            committed=committed, log_start=log_start, log_end=log_end)  # fmt: skip

    assert lag(None, 10, 50).lag == 40
    assert lag(5, 10, 50).lag == 40
    assert lag(50, 10, 50).lag == 0
    shaped = api.lag_json([lag(45, 0, 50)], [], NOW)
    assert shaped["groups"][0]["lag"] == 5


def test_a_sparkline_of_nothing_is_a_flat_line() -> None:
    assert "<line" in sparkline([])
    assert "<polyline" in sparkline([0.0, 0.0])


def test_durations_read_as_seconds_minutes_or_hours_and_missing_values_as_a_dash() -> None:
    assert [duration(v) for v in (12.34, Decimal("61"), 3 * 3600 + 5 * 60 + 9)] == ["12.3 s", "1 min 1 s", "3 h 5 min"]
    dash = '<span class="muted">—</span>'
    assert [duration(None), duration(True), yes_no(None), num(None), when(None)] == [dash] * 5
    assert (num(1234567), num(2.25), num("<b>")) == ("1,234,567", "2.2", "&lt;b&gt;")
    assert when("<i>soon</i>") == "&lt;i&gt;soon&lt;/i&gt;"


def test_held_files_are_shown_as_needing_a_decision_with_expected_and_actual_and_the_commands() -> None:
    finding = {"control": "error budget (rows rejected)", "action": "hold", "expected": "at most 5",
               "actual": "<40> of 200 rows"}  # fmt: skip
    held = ledger_row(status="HELD", controls=[finding])
    assert "Needs a decision" not in dashboard()
    html = dashboard(held=[held])
    panel = html[html.index("Needs a decision (1)") :]
    assert "error budget (rows rejected)" in panel
    assert "at most 5 → &lt;40&gt; of 200 rows" in panel
    assert f"python -m streamproc release s3://drop/{esc(HOSTILE)} --reason" in panel
    assert f"python -m streamproc decline s3://drop/{esc(HOSTILE)} --reason" in panel
    assert "<40>" not in html and "<script>" not in html
    decided = {"action": "release", "by": "<alice>", "at": "2026-12-01T10:00:00+00:00", "reason": "ok"}
    page = pages.file_page(
        pages.FilePage(file=ledger_row(controls=[finding], decision=decided), rejects=[], summary=[], offset=0,
                       limit=500, refresh=5, app_id="a")
    )  # fmt: skip
    assert "released by &lt;alice&gt; at 2026-12-01T10:00:00+00:00: ok" in page
    assert "at most 5 → &lt;40&gt; of 200 rows" in page
