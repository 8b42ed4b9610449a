"""Registers every operator command on the Faust app (the list is in streamproc.cli's docstring)."""

from __future__ import annotations

import faust

from streamproc.cli import decide, gen, holds, replay, reprocess, schema, status, tail, upload
from streamproc.datasets.registry import Registry
from streamproc.worker.settings import WorkerSettings


def install(app: faust.App, settings: WorkerSettings, registry: Registry) -> None:
    """Register every operator command on the app."""
    for module in (gen, upload, status, tail, schema, replay, reprocess, decide, holds):
        module.register(app, settings, registry)
