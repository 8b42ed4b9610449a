"""`schema [TOPIC]`: the JSON Schema of each topic's value from the msgspec types; `--markdown`: docs/topics.md."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click
import faust
from faust.cli import argument, option

from streamproc.cli.base import OperatorCommand
from streamproc.cli.errors import BadUsage
from streamproc.datasets.registry import Registry
from streamproc.topics import docs
from streamproc.topics.contract import UnknownTopicName, pipeline_topics, resolve_topic
from streamproc.worker.settings import WorkerSettings


def register(app: faust.App, settings: WorkerSettings, registry: Registry) -> None:
    @app.command(
        argument("topic", required=False),
        option("--markdown", is_flag=True, help="write the topics document (see --out) instead of printing JSON"),
        option(
            "--out",
            type=click.Path(dir_okay=False, writable=True, path_type=Path),
            default=Path("docs/topics.md"),
            help="where --markdown writes",
        ),
        base=OperatorCommand,
    )
    async def schema(self: OperatorCommand, topic: str | None, markdown: bool, out: Path) -> None:
        """Print the JSON Schema (draft 2020-12) of TOPIC's values, or of every topic's.

        TOPIC is a topic name (with or without the namespace), a dataset name, `objects` or
        `deadletter`. With --markdown, write docs/topics.md for downstream consumers: topics, keys,
        partitions, every field with its type and constraints, the schema version, how to decode.
        """
        refs = pipeline_topics(settings.topics, registry)
        if markdown:
            if topic is not None:
                msg = "--markdown documents every topic: leave TOPIC out"
                raise BadUsage(msg)
            text = docs.render(refs, settings.topics)
            await asyncio.to_thread(_write, out, text)
            self.note(f"wrote {out} ({len(refs)} topics)")
            return
        if topic is None:
            self.out(json.dumps({ref.name: ref.schema() for ref in refs}, indent=2))
            return
        try:
            ref = resolve_topic(topic, settings.topics, registry)
        except UnknownTopicName as exc:
            raise BadUsage(str(exc)) from None
        self.out(json.dumps(ref.schema(), indent=2))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
