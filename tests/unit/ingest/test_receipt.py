"""A sender's receipt: counts by field and rule with first lines, controls, decision; never a row's value."""

from __future__ import annotations

from datetime import UTC, datetime

from streamproc.contract.events import FieldError
from streamproc.datasets.controls import Finding
from streamproc.ingest.ledger import Reject
from streamproc.ingest.receipt import (
    RECEIPT_DECODER,
    Decision,
    Receipt,
    controls_of,
    encode,
    receipt_key,
    receipt_of,
    rejected_by_rule,
)

AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def reject(line: int, *pairs: tuple[str, str], error_class: str = "InvalidRow") -> Reject:
    errors = tuple(FieldError(field=f, rule=r, message="is not valid") for f, r in pairs)
    return Reject(line=line, stage="split", error_class=error_class, errors=errors)


def test_rejected_rows_are_counted_by_field_and_rule_most_frequent_first_with_their_first_lines() -> None:
    rejects = [reject(n, ("ndc", "ndc")) for n in range(30, 2, -1)]
    rejects += [reject(5, ("ndc", "ndc"), ("copay", "decimal")), reject(9, error_class="MalformedRow")]
    counted = rejected_by_rule(rejects, first=3)
    assert [(c.field, c.rule, c.rows, c.first_lines) for c in counted] == [
        ("ndc", "ndc", 29, [3, 4, 5]),
        ("_row", "MalformedRow", 1, [9]),
        ("copay", "decimal", 1, [5]),
    ]


def test_a_receipt_round_trips_and_holds_no_value_of_a_row() -> None:
    secret = "MEMBER-0042"
    finding = Finding("error budget (rows rejected)", "hold", "at most 0", "1 of 2 rows")
    receipt = Receipt(
        bucket="drop",
        key="pharmacy_claims/a.csv",
        version="etag-1",
        dataset="pharmacy_claims",
        status="HELD",
        reason=finding.reason,
        rows_read=2,
        rows_valid=1,
        rows_rejected=1,
        sha256="a" * 64,
        controls=controls_of([finding]),
        rejected_by_rule=rejected_by_rule([reject(3, ("member_id", "text"))]),
        decision=Decision(action="release", by="ops@example", at=AT, reason="sender confirmed"),
        issued_at=AT,
    )
    body = encode(receipt)
    assert RECEIPT_DECODER.decode(body) == receipt
    assert secret.encode() not in body
    assert RECEIPT_DECODER.decode(body).rejected_by_rule[0].first_lines == [3]


def test_a_receipt_goes_under_its_prefix_and_a_key_too_long_for_s3_is_hashed() -> None:
    assert receipt_key("pharmacy_claims/a.csv") == "receipts/pharmacy_claims/a.csv.json"
    assert receipt_key("a.csv", prefix="out/") == "out/a.csv.json"
    long_key = "pharmacy_claims/" + "é" * 600  # 1,216 bytes in UTF-8
    made = receipt_key(long_key)
    assert made.startswith("receipts/")
    assert made.endswith(".json")
    assert len(made.encode()) <= 1024
    assert made == receipt_key(long_key)  # stable


def test_a_receipt_is_built_from_a_ledger_row_with_its_controls_decision_and_kept_rejects() -> None:
    row = {
        "id": 3, "bucket": "drop", "key": "claims/a.csv", "version": "v1", "dataset": "pharmacy_claims",
        "status": "PARTIAL", "error_summary": None, "rows_read": 10, "rows_valid": 8, "rows_rejected": 2,
        "rows_sink_rejected": 1, "rows_loaded": 8, "content_sha256": "ab" * 32,
        "controls": [{"control": "error budget (rows rejected)", "action": "hold", "expected": "at most 1",
                      "actual": "2 of 10 rows"}],
        "decision": {"action": "release", "by": "alice", "at": "2026-12-03T09:00:00+00:00", "reason": "ok",
                     "failed": "error budget"},
    }  # fmt: skip
    made = receipt_of(row, [reject(4, ("ndc", "ndc")), reject(7, ("ndc", "ndc"))], AT)
    assert (made.status, made.rows_loaded, made.sha256) == ("PARTIAL", 8, "ab" * 32)
    assert made.controls == controls_of([Finding("error budget (rows rejected)", "hold", "at most 1", "2 of 10 rows")])
    assert made.decision == Decision(action="release", by="alice", at=AT, reason="ok")
    assert [(c.field, c.rows, c.first_lines) for c in made.rejected_by_rule] == [("ndc", 2, [4, 7])]
    assert made.rejected_by_rule_complete is False  # 3 rows dead-lettered, 2 reasons kept
    assert RECEIPT_DECODER.decode(encode(made)) == made
