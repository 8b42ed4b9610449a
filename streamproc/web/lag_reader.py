"""Reads the lag of the watched consumer groups with GroupAdmin: state, members, committed and log offsets."""

from __future__ import annotations

from collections.abc import Sequence

from streamproc.datasets.registry import Registry
from streamproc.ingest.groups import sink_group
from streamproc.kafka import resets
from streamproc.kafka.groups import GroupAdmin
from streamproc.web.lag import LagProblem, PartitionLag, Watched
from streamproc.worker.settings import WorkerSettings


def watched_groups(settings: WorkerSettings, registry: Registry) -> list[Watched]:
    """The fan-out agent's group (the Faust app id) and one sink group per dataset."""
    fanout = Watched(role="fan-out", group=settings.app_id, topic=settings.topics.objects)
    sinks = [Watched(role=f"sink {d.name}", group=sink_group(settings.app_id, d), topic=d.topic) for d in registry]
    return [fanout, *sinks]


async def read_lag(admin: GroupAdmin, watched: Sequence[Watched]) -> tuple[list[PartitionLag], list[LagProblem]]:
    """Every watched group's lag per partition; KafkaUnavailable propagates (the cluster is away)."""
    lags: list[PartitionLag] = []
    problems: list[LagProblem] = []
    for w in watched:
        try:
            group = await _describe(admin, w.group)
            states = await admin.partition_states(group, [w.topic])
        except resets.GroupAdminError as exc:
            problems.append(LagProblem(role=w.role, group=w.group, topic=w.topic, reason=str(exc)))
            continue
        lags += [
            PartitionLag(
                role=w.role,
                group=w.group,
                state=group.state,
                members=len(group.members),
                topic=s.topic,
                partition=s.partition,
                committed=s.committed,
                log_start=s.log_start,
                log_end=s.log_end,
            )
            for s in states
        ]
    return lags, problems


async def kafka_answers(admin: GroupAdmin) -> None:
    """One metadata round trip (the offsets of no partition still need the cluster's metadata)."""
    await admin.partition_states(_unknown(""), [])


async def _describe(admin: GroupAdmin, group_id: str) -> resets.GroupDescription:
    try:
        return await admin.describe(group_id)
    except resets.UnknownGroup:
        return _unknown(group_id)  # no member has joined and nothing is committed yet: all of the log is lag


def _unknown(group_id: str) -> resets.GroupDescription:
    return resets.GroupDescription(group_id=group_id, state="Unknown", protocol_type="", members=(), committed={})
