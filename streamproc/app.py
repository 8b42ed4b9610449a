"""Builds the faust.App from settings; nothing else (`faust -A streamproc.app worker`)."""

from __future__ import annotations

from streamproc.agents import create_app
from streamproc.datasets.registry import load_registry
from streamproc.settings import WorkerSettings
from streamproc.shared.logs import json_logging_config

settings = WorkerSettings.from_env()
registry = load_registry(settings.extra_datasets).qualified(settings.topics)
app, pipeline = create_app(settings, registry)
if settings.log_format == "json":
    app.conf.logging_config = json_logging_config()  # Faust's own lines too, from its first one
