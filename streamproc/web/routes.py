"""Wiring: the stats page's views as Faust pages, and its Monitor started with the Faust app."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, cast

import faust
import faust.web
from aiohttp import web

from streamproc.datasets.registry import Registry
from streamproc.web.monitor import Monitor
from streamproc.web.views import Handler, Views
from streamproc.worker.pipeline import Pipeline
from streamproc.worker.settings import WorkerSettings


def faust_web_options(settings: WorkerSettings) -> dict[str, Any]:
    """Which of Faust's own views the worker serves (faust.App settings)."""
    return {
        "web_stats_enabled": True,  # Faust's statistics at / and /assignment/ (by default they follow debug mode)
        "web_graph_enabled": False,
        "web_tables_enabled": settings.web_tables,  # /table/ serves table data: off unless configured
        "web_router_enabled": settings.web_router,  # /router/ shows the cluster's topology: off unless configured
    }


def install(app: faust.App, settings: WorkerSettings, registry: Registry, pipeline: Pipeline) -> Monitor:
    """Register the views as Faust pages and start the Monitor with the app."""
    monitor = Monitor(settings, registry, pipeline, loop=app.loop, beacon=app.beacon)
    for path, name, handler in Views(monitor).routes():
        app.page(path, name=name)(_as_view(handler))

    async def start_monitor() -> None:
        await app.add_runtime_dependency(monitor)

    app.task(start_monitor)
    return monitor


def _as_view(handler: Handler) -> Callable[..., Coroutine[Any, Any, faust.web.Response]]:
    """A Faust page handler, `(view, request, **match_info)`, calling `handler(request, **match_info)`."""

    async def get(view: faust.web.View, request: web.Request, **match: str) -> faust.web.Response:
        # Faust types responses as its abstract Response; its aiohttp driver casts aiohttp's the same way.
        return cast(faust.web.Response, await handler(request, **match))

    get.__name__ = handler.__name__
    get.__doc__ = handler.__doc__
    return get
