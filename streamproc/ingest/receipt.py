"""The receipt a sender gets for a finished or decided file: status, counts, controls expected and actual, rejected
rows counted by field and rule with their first line numbers, the content's SHA-256 and any decision. Never a
value of a row: only line numbers, field names and rule names."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import msgspec

from streamproc.datasets.controls import Finding
from streamproc.ingest.ledger import Reject

RECEIPT_VERSION = 1
DEFAULT_PREFIX = "receipts/"
FIRST_LINES = 10  # line numbers shown per field and rule
_MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes


class RuleCount(msgspec.Struct, frozen=True, kw_only=True):
    field: str
    rule: str
    rows: int
    first_lines: list[int]


class ControlResult(msgspec.Struct, frozen=True, kw_only=True):
    control: str
    action: Literal["warn", "hold"]
    expected: str
    actual: str


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    action: Literal["release", "decline"]
    by: str
    at: datetime
    reason: str


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    receipt_version: int = RECEIPT_VERSION
    bucket: str
    key: str
    version: str
    dataset: str | None
    status: str
    reason: str | None = None
    rows_read: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    rows_loaded: int = 0
    sha256: str | None = None
    controls: list[ControlResult] = msgspec.field(default_factory=list)
    rejected_by_rule: list[RuleCount] = msgspec.field(default_factory=list)
    rejected_by_rule_complete: bool = True  # False when the file had more rejected rows than the ledger keeps
    decision: Decision | None = None
    issued_at: datetime


_ENCODER = msgspec.json.Encoder()
RECEIPT_DECODER = msgspec.json.Decoder(Receipt)


def encode(receipt: Receipt) -> bytes:
    return msgspec.json.format(_ENCODER.encode(receipt), indent=2)


def controls_of(findings: Sequence[Finding]) -> list[ControlResult]:
    return [ControlResult(control=f.control, action=f.action, expected=f.expected, actual=f.actual) for f in findings]


def rejected_by_rule(rejects: Iterable[Reject], first: int = FIRST_LINES) -> list[RuleCount]:
    """Rejected rows counted per (field, rule), most frequent first; a row breaking two rules counts under both."""
    lines: dict[tuple[str, str], list[int]] = {}
    for reject in sorted(rejects, key=lambda r: r.line):
        pairs = {(e.field, e.rule) for e in reject.errors} or {("_row", reject.error_class)}
        for pair in pairs:
            lines.setdefault(pair, []).append(reject.line)
    counted = [RuleCount(field=f, rule=r, rows=len(ls), first_lines=ls[:first]) for (f, r), ls in lines.items()]
    return sorted(counted, key=lambda c: (-c.rows, c.field, c.rule))


def receipt_of(row: Mapping[str, Any], rejects: Sequence[Reject], issued_at: datetime) -> Receipt:
    """The receipt of a ledger row (as `ingest_files` holds it) and the reject reasons the ledger kept for it."""
    decision = row.get("decision")
    return Receipt(
        bucket=row["bucket"], key=row["key"], version=row["version"], dataset=row.get("dataset"),
        status=row["status"], reason=row.get("error_summary"),
        rows_read=row["rows_read"], rows_valid=row["rows_valid"], rows_rejected=row["rows_rejected"],
        rows_loaded=row["rows_loaded"], sha256=row.get("content_sha256"),
        controls=msgspec.convert(row.get("controls") or [], list[ControlResult]),
        rejected_by_rule=rejected_by_rule(rejects),
        rejected_by_rule_complete=len(rejects) >= row["rows_rejected"] + row.get("rows_sink_rejected", 0),
        decision=msgspec.convert(decision, Decision) if decision else None,
        issued_at=issued_at,
    )  # fmt: skip


def receipt_key(key: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Where the receipt of `key` goes: `<prefix><key>.json`, or, for a key too long for that, its SHA-256."""
    made = f"{prefix}{key}.json"
    if len(made.encode("utf-8", "surrogateescape")) <= _MAX_KEY_BYTES:
        return made
    return f"{prefix}{hashlib.sha256(key.encode('utf-8', 'surrogateescape')).hexdigest()}.json"
