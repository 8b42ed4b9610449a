"""The /pipeline/ dashboard and a file's own page, rendered from what the views read (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamproc.ingest.ledger import STATUSES
from streamproc.web.api import errors_json, reconciled
from streamproc.web.health import Check
from streamproc.web.html import (
    badge,
    duration,
    esc,
    facts,
    href,
    num,
    page,
    section,
    sparkline,
    table,
    when,
    yes_no,
)
from streamproc.web.lag import LagProblem, PartitionLag
from streamproc.web.throughput import TopicRate


@dataclass(frozen=True, kw_only=True)
class Dashboard:
    """Everything /pipeline/ shows; ledger parts are None when PostgreSQL did not answer (`ledger_error`)."""

    app_id: str
    refresh: int
    now: datetime
    health: Sequence[Check]
    rates: Sequence[TopicRate]
    lag: Sequence[PartitionLag]
    lag_problems: Sequence[LagProblem]
    lag_read_at: datetime | None
    datasets: Sequence[str]
    status: str | None = None
    dataset: str | None = None
    status_counts: Mapping[str, int] | None = None
    files: Sequence[Mapping[str, Any]] | None = None
    rejects: Sequence[Mapping[str, Any]] = field(default_factory=list)
    held: Sequence[Mapping[str, Any]] = field(default_factory=list)  # HELD files, oldest first
    ledger_error: str | None = None


def dashboard(d: Dashboard) -> str:
    top = '<div class="grid">' + _counts(d) + _throughput(d.rates) + "</div>"
    health = section("Health", _health(d.health, d.now), id_="health")
    body = health + _decisions(d.held) + top + _lag(d) + _files(d) + _rejects(d)
    return page("pipeline", body, refresh=d.refresh, subtitle=f"app {d.app_id} · {d.now:%Y-%m-%d %H:%M:%S %Z}")


def _decisions(held: Sequence[Mapping[str, Any]]) -> str:
    """HELD files: what each failed (expected and actual) and the commands that decide it; nothing if none waits."""
    if not held:
        return ""
    rows = []
    for f in held:
        url = f"s3://{f['bucket']}/{f['key']}"
        controls = "<br>".join(control_html(c) for c in f.get("controls") or ()) or esc(f.get("error_summary"))
        commands = "<br>".join(
            f"<code>python -m streamproc {verb} {esc(url)} --reason …</code>" for verb in ("release", "decline")
        )
        link = f'<a class="key" href="/pipeline/files/{int(f["id"])}/" title="{esc(f["key"])}">{esc(f["key"])}</a>'
        rows.append([link, esc(f.get("dataset")), when(f.get("finished_at")), controls, commands])
    body = table(["file", "dataset", "held since", "failed (expected → found)", "decide"], rows)
    return section(f"Needs a decision ({len(held):,})", body, id_="decisions")


def control_html(c: Mapping[str, Any]) -> str:
    """One failed (or warned) control: which, what it expected, what the file holds."""
    found = f"{esc(c.get('expected'))} → {esc(c.get('actual'))}"
    return f'<span class="wrap"><b>{esc(c.get("control"))}</b> [{esc(c.get("action"))}]: {found}</span>'


def _health(checks: Sequence[Check], now: datetime) -> str:
    cards = []
    for c in checks:
        age = max(0.0, (now - c.checked_at).total_seconds())
        state = "ok" if c.ok else "bad"
        reason = "" if c.ok else f'<div class="wrap">{esc(c.reason)}</div>'
        cards.append(
            f'<div class="check {state}" data-check="{esc(c.name)}"><b>{esc(c.label)}</b>'
            f'<span class="{"yes" if c.ok else "no"}">{_verdict(c)}</span>'
            f' <span class="muted">checked {age:.0f} s ago</span>{reason}</div>'
        )
    return f'<div class="health">{"".join(cards)}</div>'


def _verdict(c: Check) -> str:
    if c.ok:
        return "healthy"
    return "unhealthy" if c.critical else "needs attention"


def _counts(d: Dashboard) -> str:
    if d.status_counts is None:
        return section("Files by status", f'<p class="no">ledger unavailable: {esc(d.ledger_error)}</p>')
    links = "".join(
        f'<a href="{href("/pipeline/", status=s)}#files">{badge(s)} {num(d.status_counts.get(s, 0))}</a>'
        for s in STATUSES
    )
    total = sum(d.status_counts.values())
    return section("Files by status", f'<p class="counts">{links}</p><p class="muted">{total:,} file versions</p>')


def _throughput(rates: Sequence[TopicRate]) -> str:
    rows = [
        [esc(r.topic), num(r.produced), num(r.consumed), sparkline(r.series, label=f"{r.dataset} sink rows/s")]
        for r in rates
    ]
    return section(
        "Throughput (rows/s, last minute)",
        table(["topic", "produced", "consumed by sink", "sink, last minute"], rows, numeric=(1, 2)),
        id_="throughput",
    )


def _lag(d: Dashboard) -> str:
    groups: dict[str, list[PartitionLag]] = {}
    for p in d.lag:
        groups.setdefault(p.group, []).append(p)
    rows = []
    for group, parts in groups.items():
        total = sum(p.lag for p in parts)
        chips = "".join(
            f'<span class="{"lagging" if p.lag else ""}" title="committed {esc(p.committed)} · end {p.log_end}">'
            f"{p.partition}: {p.lag:,}</span>"
            for p in parts
        )
        first = parts[0]
        total_cell = f'<span class="lagging">{total:,}</span>' if total else "0"
        rows.append([esc(first.role), esc(group), esc(first.topic), esc(first.state), num(first.members), total_cell,
                     f'<span class="chips">{chips}</span>'])  # fmt: skip
    rows += [
        [esc(x.role), esc(x.group), esc(x.topic), "", "", "", f'<span class="no">{esc(x.reason)}</span>']
        for x in d.lag_problems
    ]
    when = f"read {d.lag_read_at:%H:%M:%S}" if d.lag_read_at else "not read yet"
    heading = table(["consumer", "group", "topic", "state", "members", "lag", "lag per partition"], rows,
                    numeric=(4, 5), empty="no lag read yet")  # fmt: skip
    return section(f"Consumer lag ({when})", heading, id_="lag")


def _filters(d: Dashboard) -> str:
    links = [f'<a href="{href("/pipeline/", dataset=d.dataset)}#files">all statuses</a>']
    links += [
        f'<a href="{href("/pipeline/", status=s, dataset=d.dataset)}#files">{esc(s.lower())}</a>' for s in STATUSES
    ]
    links += [f'<a href="{href("/pipeline/", status=d.status)}#files">all datasets</a>']
    links += [f'<a href="{href("/pipeline/", status=d.status, dataset=x)}#files">{esc(x)}</a>' for x in d.datasets]
    return f'<nav class="filters">{"".join(links)}</nav>'


def _files(d: Dashboard) -> str:
    if d.files is None:
        return section("Latest files", f'<p class="no">ledger unavailable: {esc(d.ledger_error)}</p>', id_="files")
    rows = [file_row(f) for f in d.files]
    headers = [
        "id",
        "key",
        "dataset",
        "status",
        "read",
        "loaded",
        "dead-lettered",
        "reconciled",
        "duration",
        "received",
    ]
    shown = " · ".join(f"{k} {esc(v)}" for k, v in (("status", d.status), ("dataset", d.dataset)) if v)
    content = _filters(d) + table(headers, rows, numeric=(0, 4, 5, 6), empty="no files yet")
    return section(f"Latest files{' · ' + shown if shown else ''}", content, id_="files")


def file_row(f: Mapping[str, Any]) -> list[str]:
    link = f"/pipeline/files/{int(f['id'])}/"
    received = f["received_at"]
    return [
        f'<a href="{link}">{int(f["id"])}</a>',
        f'<a class="key" href="{link}" title="{esc(f["key"])}">{esc(f["key"])}</a>',
        esc(f.get("dataset")) or '<span class="muted">—</span>',
        badge(f["status"]),
        num(f["rows_read"]),
        num(f["rows_loaded"]),
        num(f["rows_dead_lettered"]),
        yes_no(reconciled(f)),
        duration(f.get("duration_seconds")),
        esc(f"{received:%H:%M:%S}") if isinstance(received, datetime) else esc(received),
    ]


def _rejects(d: Dashboard) -> str:
    rows = [
        [f'<a class="key" href="/pipeline/files/{int(r["file_id"])}/">{esc(r["key"])}</a>', num(r["line"]),
         *_reason_cells(r)]
        for r in d.rejects
    ]  # fmt: skip
    headers = ["file", "line", "stage", "error", "field", "rule", "message"]
    return section("Latest dead-letter reasons", table(headers, rows, numeric=(1,), empty="none"), id_="rejects")


def _reason_cells(r: Mapping[str, Any]) -> list[str]:
    errors = errors_json(r.get("errors"))
    fields = "<br>".join(esc(e["field"]) for e in errors)
    rules = "<br>".join(esc(e["rule"]) for e in errors)
    messages = "<br>".join(esc(e["message"]) for e in errors)
    return [esc(r.get("stage")), esc(r.get("error_class")), fields, rules, f'<span class="wrap">{messages}</span>']


@dataclass(frozen=True, kw_only=True)
class FilePage:
    """One file's ledger row, a page of its reject reasons (from `offset`), and counts per field and rule."""

    file: Mapping[str, Any]
    rejects: Sequence[Mapping[str, Any]]
    summary: Sequence[Mapping[str, Any]]
    offset: int
    limit: int
    refresh: int
    app_id: str


def file_page(p: FilePage) -> str:
    f, ident = p.file, int(p.file["id"])
    details = facts([
        ("key", esc(f["key"])), ("bucket", esc(f["bucket"])), ("version", esc(f["version"])),
        ("dataset", esc(f.get("dataset"))), ("status", badge(f["status"])), ("rows read", num(f["rows_read"])),
        ("rows valid", num(f["rows_valid"])), ("rows loaded", num(f["rows_loaded"])),
        ("dead-lettered by validation", num(f["rows_rejected"])),
        ("dead-lettered by the database", num(f["rows_sink_rejected"])),
        ("rows dead-lettered", num(f["rows_dead_lettered"])), ("reconciled", yes_no(reconciled(f))),
        ("unknown columns", num(f["unknown_columns"])), ("attempts", num(f["attempts"])),
        ("duplicate events", num(f["duplicate_events"])), ("duration", duration(f.get("duration_seconds"))),
        ("received", when(f["received_at"])), ("started", when(f.get("started_at"))),
        ("finished", when(f.get("finished_at"))), ("error", f'<span class="wrap">{esc(f.get("error_summary"))}</span>'),
        *(("control", control_html(c)) for c in f.get("controls") or ()),
        *((("decision", _decision(f["decision"])),) if f.get("decision") else ()),
        ("as JSON", f'<a href="/api/files/{ident}/">/api/files/{ident}/</a>'),
    ])  # fmt: skip
    summary = table(
        ["field", "rule", "rows"], [[esc(s["field"]), esc(s["rule"]), num(s["n"])] for s in p.summary], numeric=(2,),
        empty="none",
    )  # fmt: skip
    rows = [[num(r["line"]), *_reason_cells(r)] for r in p.rejects]
    reasons = table(["line", "stage", "error", "field", "rule", "message"], rows, numeric=(0,), empty="none")
    first, last = p.offset + 1, p.offset + len(p.rejects)
    title = f"Dead-letter reasons {first:,} to {last:,}" if p.rejects else "Dead-letter reasons"
    body = (
        '<div class="grid">' + section("File", details, id_="file") + section("Reasons by field and rule", summary)
        + "</div>" + section(title, _pager(p, ident) + reasons, id_="reasons")
    )  # fmt: skip
    return page(f"file {ident}", body, refresh=p.refresh, subtitle=f"app {p.app_id}")


def _decision(d: Mapping[str, Any]) -> str:
    who = f"{esc(d.get('action'))}d by {esc(d.get('by'))} at {esc(d.get('at'))}"
    return f'<span class="wrap">{who}: {esc(d.get("reason"))}</span>'


def _pager(p: FilePage, ident: int) -> str:
    path = f"/pipeline/files/{ident}/"
    links = []
    if p.offset > 0:
        links.append(f'<a href="{href(path, offset=max(0, p.offset - p.limit) or None)}#reasons">previous</a>')
    if len(p.rejects) == p.limit:
        links.append(f'<a href="{href(path, offset=p.offset + p.limit)}#reasons">next</a>')
    return f'<nav class="filters">{"".join(links)}</nav>' if links else ""
