"""JSON shapes of the API (pure): ledger rows, reject reasons, lag and health, holding only JSON types.

Reject reasons are whitelisted to line, stage, error class and each error's field, rule and message:
the ledger never stores a row's values, and nothing else of a stored reason reaches a client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from streamproc.ingest.ledger import FINAL
from streamproc.web.health import Check
from streamproc.web.lag import LagProblem, PartitionLag

FILE_FIELDS = (
    "id", "bucket", "key", "version", "dataset", "status", "size", "etag", "event_time", "rows_read", "rows_valid",
    "rows_rejected", "rows_loaded", "rows_sink_rejected", "rows_dead_lettered", "unknown_columns", "split_done",
    "error_summary", "attempts", "duplicate_events", "last_duplicate_at", "received_at", "started_at",
    "finished_at", "updated_at", "duration_seconds", "controls", "decision", "content_sha256",
)  # fmt: skip
ERROR_FIELDS = ("field", "rule", "message")


def jsonable(value: object) -> Any:
    """A value JSON can hold: timestamps as ISO 8601, decimals as numbers."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def reconciled(row: Mapping[str, Any]) -> bool | None:
    """Whether a finished file reconciles (read = loaded + dead-lettered); None while it is in progress."""
    return bool(row["reconciled"]) if row.get("status") in FINAL else None


def file_json(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {name: jsonable(row.get(name)) for name in FILE_FIELDS}
    out["reconciled"] = reconciled(row)
    return out


def errors_json(errors: object) -> list[dict[str, Any]]:
    """Only field, rule and message of each stored error."""
    if not isinstance(errors, list):
        return []
    return [{k: e.get(k) for k in ERROR_FIELDS} for e in errors if isinstance(e, dict)]


def reject_json(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: jsonable(row[k]) for k in ("file_id", "bucket", "key", "dataset") if k in row}
    out |= {
        "line": row.get("line"),
        "stage": row.get("stage"),
        "error_class": row.get("error_class"),
        "errors": errors_json(row.get("errors")),
        "recorded_at": jsonable(row.get("recorded_at")),
    }
    return out


def lag_json(lags: Sequence[PartitionLag], problems: Sequence[LagProblem], read_at: datetime | None) -> dict[str, Any]:
    groups: dict[str, dict[str, Any]] = {}
    for p in lags:
        g = groups.setdefault(
            p.group,
            {"group": p.group, "role": p.role, "state": p.state, "members": p.members, "lag": 0, "partitions": []},
        )
        g["lag"] += p.lag
        g["partitions"].append(
            {"topic": p.topic, "partition": p.partition, "committed": p.committed, "log_start": p.log_start,
             "log_end": p.log_end, "lag": p.lag}
        )  # fmt: skip
    return {
        "read_at": jsonable(read_at),
        "groups": list(groups.values()),
        "problems": [{"group": x.group, "role": x.role, "topic": x.topic, "reason": x.reason} for x in problems],
    }


def check_json(check: Check) -> dict[str, Any]:
    return {
        "ok": check.ok,
        "reason": check.reason,
        "checked_at": jsonable(check.checked_at),
        "critical": check.critical,
    }


def health_json(checks: Sequence[Check]) -> dict[str, Any]:
    """ "ok"; "degraded" when only checks a restart would not cure fail; "unhealthy" otherwise."""
    if not all(c.ok for c in checks if c.critical):
        status = "unhealthy"
    else:
        status = "ok" if all(c.ok for c in checks) else "degraded"
    return {"status": status, "checks": {c.name: check_json(c) for c in checks}}
