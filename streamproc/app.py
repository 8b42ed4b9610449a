"""Builds the faust.App from settings; nothing else (`faust -A streamproc.app worker`)."""

from __future__ import annotations

from streamproc.agents import create_app
from streamproc.datasets.registry import load_registry
from streamproc.settings import WorkerSettings

settings = WorkerSettings.from_env()
app, pipeline = create_app(settings, load_registry(settings.extra_datasets))
