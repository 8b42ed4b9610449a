"""`replay`: reset consumer groups' offsets (default: the sink groups), dry run first, refused while members run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import click
import faust
from faust.cli import option

from streamproc.cli import views
from streamproc.cli.base import OperatorCommand
from streamproc.cli.errors import BadUsage, NotFound, Refused
from streamproc.cli.params import DATETIME, DURATION, PARTITIONS, reset_spec
from streamproc.datasets.registry import Registry
from streamproc.ingest.groups import sink_group
from streamproc.kafka import resets
from streamproc.kafka.groups import GroupAdmin
from streamproc.topics.contract import UnknownTopicName, resolve_topic
from streamproc.worker.settings import WorkerSettings


@dataclass(frozen=True)
class Target:
    """A group to reset and its topics (empty: the topics it has committed offsets for)."""

    group: str
    topics: tuple[str, ...]
    default: bool = False  # one of the sink groups, chosen because no group was named


def targets(
    settings: WorkerSettings, registry: Registry, groups: Sequence[str], datasets: Sequence[str], topics: Sequence[str]
) -> list[Target]:
    """The groups to reset: --group and --dataset (a sink group), else the sink groups (of the --topic ones, if given).

    --topic applies to every group named; without a group named, it picks the sink groups that read those topics.
    """
    chosen = tuple(resolve(t, settings, registry) for t in topics)
    named = [Target(g, chosen) for g in groups]
    named += [Target(sink_group(settings.app_id, d), chosen or (d.topic,)) for d in map(registry.by_name, datasets)]
    if named:
        return named
    sinks = [
        Target(sink_group(settings.app_id, d), (d.topic,), default=True)
        for d in registry
        if not chosen or d.topic in chosen
    ]
    if not sinks:
        msg = f"no sink group reads {', '.join(chosen)}: name the consumer group with --group"
        raise BadUsage(msg)
    return sinks


def resolve(topic: str, settings: WorkerSettings, registry: Registry) -> str:
    """A pipeline topic by any of its names (dataset, bare name); any other name as given (any group, any topic)."""
    try:
        return resolve_topic(topic, settings.topics, registry).name
    except UnknownTopicName:
        return topic


def options(registry: Registry) -> list[option]:
    return [
        option("--group", "groups", multiple=True,
               help="a consumer group to reset (repeatable)  [default: the sink groups]"),
        option("--dataset", "datasets", multiple=True, type=click.Choice([d.name for d in registry]),
               help="the sink group of this dataset (repeatable)"),
        option("--topic", "topics", multiple=True,
               help="a topic to reset, or a dataset name (repeatable)  [default: the group's topics]"),
        option("--partitions", type=PARTITIONS, help="only these partitions, e.g. 0,2 or 0-3  [default: all]"),
        option("--to-earliest", is_flag=True, help="to the first offset still in the log"),
        option("--to-latest", is_flag=True, help="to the end of the log (skip everything not read yet)"),
        option("--to-datetime", type=DATETIME, help="to the first record at or after this ISO 8601 time with a zone"),
        option("--by-duration", type=DURATION, help="to the first record at or after now minus this ISO 8601 duration"),
        option("--shift-by", type=int, help="move the committed offset by N (negative: back)"),
        option("--to-offset", type=click.IntRange(min=0), help="to this offset"),
        option("--execute", is_flag=True, help="apply the plan  [default: dry run]"),
        option("--timeout", type=click.FloatRange(1, 600), default=30.0, help="seconds to keep retrying Kafka"),
    ]  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class ReplayArgs:
    groups: tuple[str, ...]
    datasets: tuple[str, ...]
    topics: tuple[str, ...]
    partitions: tuple[int, ...] | None
    to_earliest: bool
    to_latest: bool
    to_datetime: datetime | None
    by_duration: timedelta | None
    shift_by: int | None
    to_offset: int | None
    execute: bool
    timeout: float

    def spec(self) -> resets.ResetSpec:
        return reset_spec(
            to_earliest=self.to_earliest, to_latest=self.to_latest, to_datetime=self.to_datetime,
            by_duration=self.by_duration, shift_by=self.shift_by, to_offset=self.to_offset,
        )  # fmt: skip


def register(app: faust.App, settings: WorkerSettings, registry: Registry) -> None:
    @app.command(*options(registry), base=OperatorCommand)
    async def replay(self: OperatorCommand, **given: Any) -> None:
        """Reset consumer groups' committed offsets, so that their consumers read again from there.

        Default: the worker's sink groups (<app id>-sink-<dataset>) on their dataset topics. Each new
        offset is clamped to the log, as Kafka's kafka-consumer-groups does. Without --execute it is a
        dry run printing, per partition, the committed offset now, the new one and the lag. Refused
        (exit 1) while a group has active members: stop the worker, replay, start the worker.
        """
        await run(self, settings, registry, ReplayArgs(**given))


async def run(cmd: OperatorCommand, settings: WorkerSettings, registry: Registry, args: ReplayArgs) -> None:
    spec = args.spec()
    chosen = targets(settings, registry, args.groups, args.datasets, args.topics)
    async with GroupAdmin(settings.kafka, timeout=args.timeout) as admin:
        planned = await _plan_all(cmd, admin, chosen, spec, args.partitions)
        busy = [group for group, _ in planned if group.members]
        if busy:
            refusals = "; ".join(str(resets.GroupHasActiveMembers(g.group_id, g.members)) for g in busy)
            msg = f"{refusals}. Nothing was changed."
            raise Refused(msg)
        if not args.execute:
            cmd.out("dry run: nothing was changed; run again with --execute to apply")
            return
        for _, plan in planned:
            await admin.apply(plan)
            cmd.out(f"applied: group {plan.group_id}, {len(plan.partitions)} partition(s)")
    cmd.out("start the group's consumers (the worker) to read from the new offsets")


async def _plan_all(
    cmd: OperatorCommand,
    admin: GroupAdmin,
    chosen: Sequence[Target],
    spec: resets.ResetSpec,
    partitions: Sequence[int] | None,
) -> list[tuple[resets.GroupDescription, resets.ResetPlan]]:
    """Each group's plan, printed as it is made; sink groups that never committed are skipped with a note."""
    planned = []
    for target in chosen:
        try:
            group = await admin.describe(target.group)
        except resets.UnknownGroup:
            if not target.default:
                raise
            cmd.note(
                f"group {target.group} has committed nothing yet (its sink starts at the earliest offset): skipped"
            )
            continue
        topics = target.topics or tuple(sorted({topic for topic, _ in group.committed}))
        if not topics:
            msg = f"group {target.group} has no committed offsets to say which topics it reads: name them with --topic"
            raise BadUsage(msg)
        state = await admin.replay_state(target.group, topics, spec, partitions=partitions)
        plan = resets.plan_reset(state, spec)
        planned.append((state.group, plan))
        cmd.out(f"{views.group_line(state.group)}: {views.spec_text(spec)}")
        for line in views.plan_lines(plan):
            cmd.out(line)
        cmd.out()
    if not planned:
        msg = "none of the sink groups has committed offsets yet: nothing to reset"
        raise NotFound(msg)
    return planned
