"""Builds the faust.App from settings; nothing else (`faust -A streamproc.app worker`)."""

from __future__ import annotations

from streamproc.agents import create_app
from streamproc.datasets.registry import load_registry
from streamproc.settings import WorkerSettings

settings = WorkerSettings.from_env()
registry = load_registry(settings.extra_datasets).qualified(settings.topics)
app, pipeline = create_app(settings, registry)
