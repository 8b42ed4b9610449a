"""`tail TOPIC`: a topic's events as JSON lines, PHI masked; no consumer group, nothing committed."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import click
import faust
from faust.cli import argument, option

from streamproc.cli import tail_format
from streamproc.cli.base import OperatorCommand
from streamproc.cli.errors import BadUsage
from streamproc.datasets.registry import Registry
from streamproc.kafka.tail import Event, TailReader
from streamproc.shared.partitioning import partition_for
from streamproc.topics.contract import TopicRef, UnknownTopicName, resolve_topic
from streamproc.worker.settings import WorkerSettings

DEFAULT_LIMIT = 10


@dataclass(frozen=True, kw_only=True)
class TailArgs:
    topic: str
    from_beginning: bool
    limit: int | None
    key: str | None
    follow: bool
    unmasked: bool

    def backlog(self) -> int | None:
        """How many existing events to show: --limit; by default 10, or all of them with --from-beginning --follow."""
        if self.limit is not None:
            return self.limit
        return None if self.from_beginning and self.follow else DEFAULT_LIMIT


def register(app: faust.App, settings: WorkerSettings, registry: Registry) -> None:
    @app.command(
        argument("topic"),
        option("--from-beginning", is_flag=True, help="the oldest events instead of the newest"),
        option("--limit", type=click.IntRange(min=0), help="how many existing events to show  [default: 10]"),
        option("--key", help="only events with this key (reads the key's partition from its start)"),
        option("--follow", "-f", is_flag=True, help="then keep printing new events until Ctrl-C"),
        option("--unmasked", is_flag=True, help="show PHI fields and undecodable values as they are"),
        base=OperatorCommand,
    )
    async def tail(self: OperatorCommand, **given: Any) -> None:
        """Print TOPIC's events as JSON lines: the newest 10, oldest first (see --limit, --from-beginning).

        TOPIC is a topic name (with or without the namespace), a dataset name, `objects` or
        `deadletter`. Row events show the dataset's PHI fields as *** unless --unmasked; dead letters
        are masked when they are built. Reads without a consumer group: nothing is committed. With
        --from-beginning --follow and no --limit, every event from the start, then new ones.
        """
        args = TailArgs(**given)
        try:
            ref = resolve_topic(args.topic, settings.topics, registry)
        except UnknownTopicName as exc:
            raise BadUsage(str(exc)) from None
        async with TailReader(settings.kafka) as reader, _stop_on_signals() as stop:
            shown = await _show(self, reader, ref, args, stop)
        self.note(f"{shown} event(s) from {ref.name}")


async def _show(cmd: OperatorCommand, reader: TailReader, ref: TopicRef, args: TailArgs, stop: asyncio.Event) -> int:
    bounds = await reader.bounds(ref.name)
    if args.key is not None:  # a key lives in one partition: Kafka's default partitioner put it there
        home = partition_for(args.key.encode(), len(bounds))
        bounds = {home: bounds[home]}
    limit = args.backlog()
    whole = args.key is not None or limit is None
    span = tail_format.window(bounds, None if whole else limit, from_beginning=args.from_beginning)
    starts, ends = {p: s for p, (s, _) in span.items()}, {p: e for p, (_, e) in span.items()}
    events = _matching(reader.read(ref.name, starts, ends, stop), args)
    shown = 0
    if limit is None:  # everything: print as it comes, nothing held in memory
        async for event in events:
            cmd.out(tail_format.line(event, ref, unmasked=args.unmasked))
            shown += 1
    else:
        for kept in tail_format.pick([e async for e in events], limit, from_beginning=args.from_beginning):
            cmd.out(tail_format.line(kept, ref, unmasked=args.unmasked))
            shown += 1
    if args.follow:
        after = {p: end for p, (_, end) in bounds.items()}
        async for event in _matching(reader.read(ref.name, after, None, stop), args):
            cmd.out(tail_format.line(event, ref, unmasked=args.unmasked))
            shown += 1
    return shown


async def _matching(events: AsyncIterator[Event], args: TailArgs) -> AsyncIterator[Event]:
    wanted = None if args.key is None else args.key.encode()
    async for event in events:
        if wanted is None or event.key == wanted:
            yield event


@asynccontextmanager
async def _stop_on_signals() -> AsyncIterator[asyncio.Event]:
    """An event set by Ctrl-C or SIGTERM: --follow ends there, with exit code 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
