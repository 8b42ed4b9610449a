"""HTML building blocks of the stats pages (pure): every value is escaped here, styles and charts are inline."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from html import escape
from urllib.parse import urlencode

STYLE = """
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--run:#0969da;--mute:#57606a;--line:#d0d7de;--soft:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1f2328}
header{display:flex;gap:16px;justify-content:space-between;align-items:baseline;padding:10px 20px;
 background:#24292f;color:#f0f3f6}
header h1{font-size:18px;margin:0}header a{color:#f0f3f6}
main{padding:12px 20px;max-width:1500px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:12px}
section{border:1px solid var(--line);border-radius:6px;padding:8px 12px;margin-bottom:12px;overflow-x:auto}
h2{font-size:15px;margin:2px 0 8px}
table{border-collapse:collapse;width:100%}
th,td{padding:3px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap;vertical-align:top}
th{font-weight:600;color:var(--mute);font-size:12px;text-transform:uppercase;letter-spacing:.02em}
.num{text-align:right;font-variant-numeric:tabular-nums}
.key{max-width:460px;overflow:hidden;text-overflow:ellipsis}
.wrap{white-space:normal;max-width:640px;word-break:break-word}
.badge{display:inline-block;padding:0 7px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.s-COMPLETED{background:var(--ok)}.s-PARTIAL{background:var(--warn)}.s-FAILED{background:var(--bad)}.s-SUPERSEDED{background:var(--warn)}.s-HELD{background:var(--bad)}
.s-PROCESSING{background:var(--run)}.s-RECEIVED{background:var(--mute)}
.health{display:flex;gap:10px;flex-wrap:wrap}
.check{flex:1 1 220px;border-left:5px solid;padding:4px 10px;background:var(--soft);border-radius:4px}
.check.ok{border-color:var(--ok)}.check.bad{border-color:var(--bad)}
.check b{display:block}.yes{color:var(--ok);font-weight:600}.no{color:var(--bad);font-weight:600}
.muted{color:var(--mute)}.lagging{color:var(--bad);font-weight:600}
.counts a{margin-right:10px;text-decoration:none}.counts .badge{font-size:13px}
.chips span{display:inline-block;margin:0 4px 2px 0;padding:0 5px;border-radius:3px;background:var(--soft)}
nav.filters a{margin-right:8px}
table.facts{width:auto}table.facts th{text-transform:none;font-size:13px;color:#1f2328}
"""


def esc(value: object) -> str:
    """Text for an element or an attribute: None as an empty string, everything else escaped."""
    return "" if value is None else escape(str(value), quote=True)


def href(path: str, **query: object) -> str:
    """A link to one of our own paths with a query string; values are URL-encoded, the result attribute-escaped."""
    pairs = {k: str(v) for k, v in query.items() if v is not None and v != ""}
    return esc(f"{path}?{urlencode(pairs)}" if pairs else path)


def page(title: str, body: str, *, refresh: int, subtitle: str = "") -> str:
    """A whole document: reloads itself every `refresh` seconds; no script, no external asset."""
    return (
        "<!doctype html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{int(refresh)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f'<header><h1><a href="/pipeline/">streamproc</a> · {esc(title)}</h1>'
        f'<span class="muted">{esc(subtitle)} · refreshes every {int(refresh)} s</span></header>'
        f"<main>{body}</main></body></html>\n"
    )


def section(title: str, content: str, *, id_: str = "") -> str:
    ident = f' id="{esc(id_)}"' if id_ else ""
    return f"<section{ident}><h2>{esc(title)}</h2>{content}</section>"


def facts(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column table of names and already-rendered values."""
    rows = "".join(f"<tr><th>{esc(name)}</th><td>{value}</td></tr>" for name, value in pairs)
    return f'<table class="facts"><tbody>{rows}</tbody></table>'


def when(value: object) -> str:
    """A timestamp to the second, with its zone."""
    if isinstance(value, datetime):
        return esc(f"{value:%Y-%m-%d %H:%M:%S %Z}".strip())
    return esc(value) if value is not None else '<span class="muted">—</span>'


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Iterable[int] = (), empty: str = ""
) -> str:
    """Rows of already-rendered cells (build them with `esc`); columns in `numeric` align right."""
    right = set(numeric)
    head = "".join(
        f'<th class="num">{esc(h)}</th>' if i in right else f"<th>{esc(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i in right else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    if not body and empty:
        body = f'<tr><td colspan="{len(headers)}" class="muted">{esc(empty)}</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def badge(status: object) -> str:
    text = esc(status)
    return f'<span class="badge s-{text}">{text}</span>'


def num(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
    return esc(value) if value is not None else '<span class="muted">—</span>'


def yes_no(value: bool | None) -> str:
    if value is None:
        return '<span class="muted">—</span>'
    return '<span class="yes">yes</span>' if value else '<span class="no">no</span>'


def duration(seconds: object) -> str:
    if not isinstance(seconds, int | float | Decimal) or isinstance(seconds, bool):
        return '<span class="muted">—</span>'
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    minutes, rest = divmod(int(s), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def sparkline(values: Sequence[float], *, width: int = 160, height: int = 28, label: str = "") -> str:
    """An inline SVG line of `values` (oldest first), scaled to its own maximum."""
    title = f"<title>{esc(label)}</title>" if label else ""
    if len(values) < 2:
        flat = f'<line x1="0" y1="{height - 1}" x2="{width}" y2="{height - 1}" stroke="#d0d7de"/>'
        return f'<svg width="{width}" height="{height}" role="img">{title}{flat}</svg>'
    top = max(values) or 1.0
    step = width / (len(values) - 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(values))
    return (
        f'<svg width="{width}" height="{height}" role="img">{title}'
        f'<polyline points="0,{height - 1} {points} {width},{height - 1}" fill="#ddf4ff" stroke="none"/>'
        f'<polyline points="{points}" fill="none" stroke="#0969da" stroke-width="1.5"/></svg>'
    )
