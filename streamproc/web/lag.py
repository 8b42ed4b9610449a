"""Consumer lag per topic-partition of the fan-out agent's group and of each sink group, read with GroupAdmin.

Lag is what the broker holds that the group has not committed: the partition's log end offset minus the
group's committed offset. A partition the group never committed counts from the log start, because every
consumer of the pipeline starts at the earliest offset; a committed offset that retention has since
deleted counts from the log start too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streamproc import replay
from streamproc.adapters.kafka_groups import GroupAdmin
from streamproc.datasets.registry import Registry
from streamproc.pipeline import sink_group
from streamproc.settings import WorkerSettings


@dataclass(frozen=True, kw_only=True)
class Watched:
    """One consumer group and the topic it consumes, as the stats page names it."""

    role: str  # "fan-out" or "sink <dataset>"
    group: str
    topic: str


@dataclass(frozen=True, kw_only=True)
class PartitionLag:
    """The lag of one group on one topic-partition, with the offsets it is computed from."""

    role: str
    group: str
    state: str  # the group's state: Stable, Empty, PreparingRebalance, ... or Unknown (never seen)
    members: int
    topic: str
    partition: int
    committed: int | None
    log_start: int
    log_end: int

    @property
    def lag(self) -> int:
        consumed_to = self.log_start if self.committed is None else max(self.committed, self.log_start)
        return max(0, self.log_end - consumed_to)


@dataclass(frozen=True, kw_only=True)
class LagProblem:
    """A group whose lag could not be read (its topic is missing, it uses another protocol, ...)."""

    role: str
    group: str
    topic: str
    reason: str


def watched_groups(settings: WorkerSettings, registry: Registry) -> list[Watched]:
    """The fan-out agent's group (the Faust app id) and one sink group per dataset."""
    fanout = Watched(role="fan-out", group=settings.app_id, topic=settings.topics.objects)
    sinks = [Watched(role=f"sink {d.name}", group=sink_group(settings, d), topic=d.topic) for d in registry]
    return [fanout, *sinks]


async def read_lag(admin: GroupAdmin, watched: Sequence[Watched]) -> tuple[list[PartitionLag], list[LagProblem]]:
    """Every watched group's lag per partition; KafkaUnreachable propagates (the cluster is away)."""
    lags: list[PartitionLag] = []
    problems: list[LagProblem] = []
    for w in watched:
        try:
            group = await _describe(admin, w.group)
            states = await admin.partition_states(group, [w.topic])
        except replay.GroupAdminError as exc:
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


async def _describe(admin: GroupAdmin, group_id: str) -> replay.GroupDescription:
    try:
        return await admin.describe(group_id)
    except replay.UnknownGroup:
        return _unknown(group_id)  # no member has joined and nothing is committed yet: all of the log is lag


def _unknown(group_id: str) -> replay.GroupDescription:
    return replay.GroupDescription(group_id=group_id, state="Unknown", protocol_type="", members=(), committed={})
