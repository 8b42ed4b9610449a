"""The worker's own views on Faust's web server: the dashboard, a file's page, the JSON API, health, metrics.

Views only read: the Monitor's polled state and the ledger through LedgerReader. Responses are aiohttp's
(Faust's web driver), with headers that keep a browser from running or sniffing anything they carry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from streamproc.adapters.ledger_reader import FileFilter
from streamproc.ingest.ledger import HELD, STATUSES
from streamproc.shared.errors import StreamprocError
from streamproc.shared.logs import describe
from streamproc.web import api, pages
from streamproc.web.health import KAFKA, POSTGRES
from streamproc.web.html import esc
from streamproc.web.metrics import exposition, registry_for
from streamproc.web.monitor import Monitor

T = TypeVar("T")
Handler = Callable[..., Coroutine[Any, Any, web.StreamResponse]]

LEDGER_TIMEOUT = 5.0  # seconds a page waits for the ledger before it says PostgreSQL did not answer
REASONS_PER_PAGE = 500  # reject reasons on one page of a file's reasons
HELD_SHOWN = 20  # HELD files in the dashboard's "needs a decision" panel (the oldest)
_COMMON = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
# No script may run, nothing is loaded from elsewhere: inline styles and inline SVG are all the pages use.
_HTML = _COMMON | {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


class BadRequest(ValueError):
    """A query parameter out of range; the message names it."""


def html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=_HTML)


def json(data: object, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(data), status=status, content_type="application/json",
                        charset="utf-8", headers=_COMMON)  # fmt: skip


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        msg = f"{name} must be a whole number from {low} to {high}"
        raise BadRequest(msg)
    return int(raw)


def _choice(request: web.Request, name: str, allowed: tuple[str, ...] | list[str]) -> str | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    if raw.upper() in allowed:
        return raw.upper()
    if raw in allowed:
        return raw
    msg = f"{name} must be one of {', '.join(allowed)}"
    raise BadRequest(msg)


def _file_id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


class Views:
    """The handlers, bound to the Monitor that holds the polled state and the ledger reader."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.settings = monitor.settings
        self.datasets = [d.name for d in monitor.registry]
        self.metrics = registry_for(monitor)

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("/pipeline", "pipeline-redirect", self.to_dashboard),
            ("/pipeline/", "pipeline", self.dashboard),
            ("/pipeline/files/{file_id}/", "pipeline-file", self.file_page),
            ("/api/files/", "api-files", self.api_files),
            ("/api/files/{file_id}/", "api-file", self.api_file),
            ("/api/deadletters/", "api-deadletters", self.api_deadletters),
            ("/api/lag/", "api-lag", self.api_lag),
            ("/healthz/", "healthz", self.healthz),
            ("/metrics", "metrics", self.prometheus),
        ]

    async def _ledger(self, call: Awaitable[T]) -> T:
        return await asyncio.wait_for(call, LEDGER_TIMEOUT)

    async def to_dashboard(self, request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/pipeline/"})

    async def dashboard(self, request: web.Request) -> web.Response:
        """The HTML dashboard: health, files by status, throughput, lag, latest files and reasons."""
        m = self.monitor
        try:
            status = _choice(request, "status", STATUSES)
            dataset = _choice(request, "dataset", self.datasets)
            limit = _int(request, "limit", 25, 1, 500)
        except BadRequest as exc:
            return html(f"<!doctype html><title>bad request</title><p>{esc(exc)}</p>", status=400)
        view = pages.Dashboard(
            app_id=self.settings.app_id, refresh=self.settings.web_refresh_seconds, now=datetime.now(UTC),
            health=list(m.health.values()), rates=m.rates(), lag=m.lag, lag_problems=m.lag_problems,
            lag_read_at=m.lag_read_at, datasets=self.datasets, status=status, dataset=dataset,
        )  # fmt: skip
        try:
            counts, files, rejects, held = await self._ledger(
                asyncio.gather(
                    m.ledger.status_counts(),
                    m.ledger.files(FileFilter(status=status, dataset=dataset, limit=limit)),
                    m.ledger.recent_rejects(limit=10),
                    m.ledger.files(FileFilter(status=HELD, limit=HELD_SHOWN, oldest_first=True)),
                )
            )
        except (StreamprocError, TimeoutError) as exc:
            return html(pages.dashboard(replace(view, ledger_error=_reason(exc))))
        return html(pages.dashboard(replace(view, status_counts=counts, files=files, rejects=rejects, held=held)))

    async def file_page(self, request: web.Request, file_id: str) -> web.Response:
        """One file: its ledger row and why each dead-lettered row was rejected (line, field, rule)."""
        ident, ledger = _file_id(file_id), self.monitor.ledger
        try:
            offset = _int(request, "offset", 0, 0, 2**31 - 1)
        except BadRequest as exc:
            return html(f"<!doctype html><title>bad request</title><p>{esc(exc)}</p>", status=400)
        try:
            row = await self._ledger(ledger.file(ident)) if ident is not None else None
            if row is None:
                return html("<!doctype html><title>not found</title><p>no such file</p>", status=404)
            rejects, summary = await self._ledger(
                asyncio.gather(ledger.rejects(row["id"], limit=REASONS_PER_PAGE, offset=offset),
                               ledger.reject_summary(row["id"]))
            )  # fmt: skip
        except (StreamprocError, TimeoutError) as exc:
            return html(f"<!doctype html><title>unavailable</title><p>{esc(_reason(exc))}</p>", status=503)
        s = self.settings
        view = pages.FilePage(file=row, rejects=rejects, summary=summary, offset=offset, limit=REASONS_PER_PAGE,
                              refresh=s.web_refresh_seconds, app_id=s.app_id)  # fmt: skip
        return html(pages.file_page(view))

    async def api_files(self, request: web.Request) -> web.Response:
        """Ledger rows, newest first: ?status=&dataset=&bucket=&key=&limit=&offset= ; with the total that matches."""
        try:
            where = FileFilter(
                status=_choice(request, "status", STATUSES),
                dataset=_choice(request, "dataset", self.datasets),
                bucket=request.query.get("bucket") or None,
                key=request.query.get("key") or None,
                limit=_int(request, "limit", 50, 1, 1000),
                offset=_int(request, "offset", 0, 0, 2**31 - 1),
            )
        except BadRequest as exc:
            return json({"error": str(exc)}, status=400)
        try:
            rows, total = await self._ledger(
                asyncio.gather(self.monitor.ledger.files(where), self.monitor.ledger.count_files(where))
            )
        except (StreamprocError, TimeoutError) as exc:
            return json({"error": _reason(exc)}, status=503)
        files = [api.file_json(r) for r in rows]
        return json({"files": files, "total": total, "limit": where.limit, "offset": where.offset})

    async def api_file(self, request: web.Request, file_id: str) -> web.Response:
        ident = _file_id(file_id)
        try:
            row = await self._ledger(self.monitor.ledger.file(ident)) if ident is not None else None
            if row is None:
                return json({"error": "no such file"}, status=404)
            rejects = await self._ledger(self.monitor.ledger.rejects(row["id"], limit=1000))
        except (StreamprocError, TimeoutError) as exc:
            return json({"error": _reason(exc)}, status=503)
        return json(api.file_json(row) | {"rejects": [api.reject_json(r) for r in rejects]})

    async def api_deadletters(self, request: web.Request) -> web.Response:
        """Why rows were dead-lettered (line, stage, field, rule, message; never values): ?file= or the latest."""
        try:
            limit = _int(request, "limit", 100, 1, 1000)
            offset = _int(request, "offset", 0, 0, 2**31 - 1)
            file_id = _int(request, "file", 0, 1, 2**62)
        except BadRequest as exc:
            return json({"error": str(exc)}, status=400)
        ledger = self.monitor.ledger
        try:
            if file_id:
                rows = await self._ledger(ledger.rejects(file_id, limit=limit, offset=offset))
                rows = [{"file_id": file_id, **r} for r in rows]
            else:
                rows = await self._ledger(ledger.recent_rejects(limit=limit))
        except (StreamprocError, TimeoutError) as exc:
            return json({"error": _reason(exc)}, status=503)
        return json({"deadletters": [api.reject_json(r) for r in rows]})

    async def api_lag(self, request: web.Request) -> web.Response:
        m = self.monitor
        return json(api.lag_json(m.lag, m.lag_problems, m.lag_read_at))

    async def healthz(self, request: web.Request) -> web.Response:
        """200 when Kafka and PostgreSQL answer now (status "degraded" if a sink keeps failing or a file is
        stuck: an operator must look, a restart would not help); 503 with the reasons otherwise."""
        checks = await self.monitor.check_health([KAFKA, POSTGRES])
        body = api.health_json([*checks, *self.monitor.work_checks()])
        return json(body, status=503 if body["status"] == "unhealthy" else 200)

    async def prometheus(self, request: web.Request) -> web.Response:
        body = exposition(self.metrics)  # on the loop: the counters it reads are only changed on the loop
        return web.Response(body=body, headers=_COMMON | {"Content-Type": CONTENT_TYPE_LATEST})


def _reason(exc: BaseException) -> str:
    return f"PostgreSQL did not answer within {LEDGER_TIMEOUT:g}s" if isinstance(exc, TimeoutError) else describe(exc)
