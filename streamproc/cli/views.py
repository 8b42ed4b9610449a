"""How the commands show things (pure): aligned tables, the ledger, one file with its reject reasons, a reset plan.

Nothing here can show a row value: the ledger holds counts, and reject reasons name lines, fields
and rules only (`ingest_file_rejects` never stores a cell).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from streamproc.ingest.ledger import STATUSES
from streamproc.kafka import resets


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], numeric: Collection[int] = ()) -> list[str]:
    """Rows under headers, columns two spaces apart, the columns in `numeric` right-aligned; no trailing spaces."""
    cells = [[str(h) for h in headers], *([cell(v) for v in row] for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return [
        "  ".join(
            v.rjust(w) if i in numeric else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]


def cell(value: object) -> str:
    """One value as a table shows it: `-` for none, times in UTC to the second."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return when(value)
    return str(value)


def when(value: datetime | None) -> str:
    """A timestamp to the second, in UTC (a naive one is taken as UTC)."""
    if value is None:
        return "-"
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def seconds(value: float | Decimal | None) -> str:
    if value is None:
        return "-"
    return f"{float(value):.1f} s"


def s3_url(row: Mapping[str, Any]) -> str:
    return f"s3://{row['bucket']}/{row['key']}"


LEDGER_HEADERS = ("STATUS", "DATASET", "READ", "LOADED", "DEAD", "ATT", "DUP", "RECEIVED", "VERSION", "FILE")


def ledger_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ledger, one file version a line, newest first as given."""
    body = [
        (
            r["status"],
            r["dataset"],
            r["rows_read"],
            r["rows_loaded"],
            r["rows_dead_lettered"],
            r["attempts"],
            r["duplicate_events"],
            r["received_at"],
            short(r["version"]),
            s3_url(r),
        )
        for r in rows
    ]
    return table(LEDGER_HEADERS, body, numeric={2, 3, 4, 5, 6})


def short(version: str | None, keep: int = 12) -> str:
    """A version id or ETag cut to `keep` characters (enough to tell versions apart on screen)."""
    if not version:
        return "-"
    return version if len(version) <= keep else version[:keep] + "…"


def status_summary(counts: Mapping[str, int], shown: int) -> str:
    """`12 files: 9 COMPLETED, 2 PARTIAL, 1 FAILED; showing the newest 12` (counts over the whole ledger)."""
    order = (*STATUSES, *sorted(set(counts) - set(STATUSES)))  # a status added later is shown, not dropped
    parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
    total = sum(counts.values())
    return f"{total} file version(s) in the ledger: {', '.join(parts) or 'none'}; showing {shown}"


def reconciliation(row: Mapping[str, Any]) -> str:
    read, loaded, dead = row["rows_read"], row["rows_loaded"], row["rows_dead_lettered"]
    sign = "=" if row["reconciled"] else "≠"
    return f"read {read} {sign} loaded {loaded} + dead-lettered {dead}"


def file_report(row: Mapping[str, Any], versions: int) -> list[str]:
    """One file version: status, every count, attempts and duplicates, times, the error summary."""
    facts = [
        ("version", row["version"] or "-"),
        ("status", f"{row['status']} ({reconciliation(row)})"),
        ("dataset", row["dataset"] or "-"),
        ("size", "-" if row["size"] is None else f"{row['size']:,} bytes (ETag {row['etag'] or '-'})"),
        (
            "rows",
            f"read {row['rows_read']}, valid {row['rows_valid']}, rejected {row['rows_rejected']}, "
            f"loaded {row['rows_loaded']}, sink-rejected {row['rows_sink_rejected']}, "
            f"dead-lettered {row['rows_dead_lettered']}; unknown columns {row['unknown_columns']}",
        ),
        ("attempts", f"{row['attempts']} (forced runs add one: `reprocess`)"),
        ("duplicates", f"{row['duplicate_events']} event(s) skipped, last {when(row['last_duplicate_at'])}"),
        ("event time", when(row["event_time"])),
        ("received", when(row["received_at"])),
        ("started", when(row["started_at"])),
        ("finished", f"{when(row['finished_at'])} (took {seconds(row['duration_seconds'])})"),
        ("error", row["error_summary"] or "-"),
    ]
    facts += [("control", control_line(c)) for c in row.get("controls") or ()]
    if row.get("content_sha256"):
        facts.append(("sha-256", row["content_sha256"]))
    if decision := row.get("decision"):
        by = f"{decision['action']}d by {decision['by']} at {decision['at']}"
        facts.append(("decision", f"{by}: {decision['reason']}"))
    if versions > 1:
        facts.append(("versions", f"{versions} in the ledger; --version V shows another"))
    width = max(len(name) for name, _ in facts)
    return [s3_url(row), *(f"  {name.ljust(width)}  {value}" for name, value in facts)]


def control_line(finding: Mapping[str, str]) -> str:
    """One control a file failed (or warned on): which, what it expected, what the file holds."""
    return f"{finding['control']} [{finding['action']}]: expected {finding['expected']}, found {finding['actual']}"


def reject_lines(rejects: Sequence[Mapping[str, Any]]) -> list[str]:
    """Why rows were dead-lettered: line, stage, error class, then `field: rule (message)` per broken rule."""
    body = [
        (
            r["line"],
            r["stage"],
            r["error_class"],
            "; ".join(f"{e['field']}: {e['rule']} ({e['message']})" for e in r["errors"]) or "-",
        )
        for r in rejects
    ]
    return table(("LINE", "STAGE", "CLASS", "FIELD: RULE (WHY)"), body, numeric={0})


def plan_lines(plan: resets.ResetPlan) -> list[str]:
    """Per partition: the committed offset now -> the new one, and the lag before and after."""
    body = [
        (p.topic, p.partition, p.current, p.new, None if p.current is None else p.log_end - p.current, p.lag_after)
        for p in plan.partitions
    ]
    return table(("TOPIC", "PARTITION", "CURRENT", "NEW", "LAG NOW", "LAG AFTER"), body, numeric={1, 2, 3, 4, 5})


def spec_text(spec: resets.ResetSpec) -> str:
    """A reset spec as the option that asked for it."""
    if isinstance(spec, resets.ToDatetime):
        return f"--to-datetime {spec.at.isoformat()}"
    if isinstance(spec, resets.ByDuration):
        return f"--by-duration {spec.duration}"
    if isinstance(spec, resets.ShiftBy):
        return f"--shift-by {spec.n}"
    if isinstance(spec, resets.ToOffset):
        return f"--to-offset {spec.offset}"
    return "--to-earliest" if isinstance(spec, resets.ToEarliest) else "--to-latest"


def group_line(group: resets.GroupDescription) -> str:
    members = ", ".join(f"{m.client_id}@{m.host}" for m in group.members) or "no active members"
    return f"group {group.group_id} ({group.state}; {members})"
