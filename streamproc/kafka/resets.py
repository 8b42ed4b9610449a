"""Replay (pure): from a group's committed offsets and its partitions' bounds to a reset plan; replay errors.

The same resets as Kafka's `kafka-consumer-groups --reset-offsets`: --to-earliest, --to-latest,
--to-datetime, --by-duration, --shift-by and --to-offset, each new offset clamped to
[log start, log end]. The Kafka adapter (streamproc.kafka.groups) reads the state and
commits a plan, raising the errors below; nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from streamproc.shared.errors import TerminalError


class GroupAdminError(TerminalError):
    """A group admin operation was refused; retrying the same call will not help."""


class UnknownGroup(GroupAdminError):
    """No such consumer group: it has neither members nor committed offsets."""


class UnknownTopic(GroupAdminError):
    """A topic or partition that the cluster does not have."""


class GroupNotClassic(GroupAdminError):
    """The group uses a non-classic protocol (KIP-848 consumer, streams, share) that this module cannot see."""


class GroupHasActiveMembers(GroupAdminError):
    """Offsets of a group can be reset only while none of its consumers runs."""

    def __init__(self, group_id: str, members: Sequence[Member]) -> None:
        self.group_id, self.members = group_id, tuple(members)
        named = "; ".join(f"{m.member_id} (client {m.client_id}, host {m.host})" for m in members)
        super().__init__(
            f"group {group_id} has {len(members)} active member(s): {named}; stop them first"
            if members
            else f"group {group_id} got active members while committing; stop its consumers first"
        )


class ReplayPlanError(GroupAdminError, ValueError):
    """A reset that cannot be planned from this state (e.g. a shift where nothing was committed)."""


@dataclass(frozen=True, kw_only=True)
class Member:
    """One active member of a group, as the coordinator knows it."""

    member_id: str
    client_id: str
    host: str
    instance_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class GroupDescription:
    """State (Empty, Stable, PreparingRebalance, ...), members and committed offsets of one group."""

    group_id: str
    state: str
    protocol_type: str
    members: tuple[Member, ...]
    committed: Mapping[tuple[str, int], int]  # (topic, partition) -> next offset to consume


@dataclass(frozen=True, kw_only=True)
class PartitionState:
    """One partition: the group's committed offset (None: none yet), the log's bounds, a time lookup."""

    topic: str
    partition: int
    committed: int | None
    log_start: int
    log_end: int
    at_time: int | None = None  # first offset with a timestamp >= the lookup time; None: no such record

    @property
    def lag(self) -> int | None:
        return None if self.committed is None else self.log_end - self.committed


@dataclass(frozen=True, kw_only=True)
class ReplayState:
    """What a reset plan is computed from, read at `taken_at` (offsets for times looked up at `lookup_time`)."""

    group: GroupDescription
    partitions: tuple[PartitionState, ...]
    taken_at: datetime
    lookup_time: datetime | None = None


@dataclass(frozen=True)
class ToEarliest:
    pass


@dataclass(frozen=True)
class ToLatest:
    pass


@dataclass(frozen=True)
class ToDatetime:
    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            msg = f"--to-datetime needs a time zone (e.g. {self.at.isoformat()}Z or +01:00)"
            raise ReplayPlanError(msg)


@dataclass(frozen=True)
class ByDuration:
    duration: timedelta  # reset to the first record at or after now - duration


@dataclass(frozen=True)
class ShiftBy:
    n: int


@dataclass(frozen=True)
class ToOffset:
    offset: int


ResetSpec = ToEarliest | ToLatest | ToDatetime | ByDuration | ShiftBy | ToOffset
_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration as Kafka's --by-duration takes it (PnDTnHnMn.nS, e.g. PT1H, P1DT30M)."""
    match = _DURATION.fullmatch(text.strip())
    if not match or not any(match.groups()) or text.strip().upper().endswith("T"):
        msg = f"{text!r} is not an ISO 8601 duration such as PT1H, PT30M or P1DT12H"
        raise ReplayPlanError(msg)
    days, hours, minutes, seconds = (float(group or 0) for group in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def reset_time(spec: ResetSpec, now: datetime) -> datetime | None:
    """The time whose offsets a spec needs looked up (None: the spec needs no time)."""
    if isinstance(spec, ToDatetime):
        return spec.at
    return now - spec.duration if isinstance(spec, ByDuration) else None


def choose_partitions(
    known: Mapping[str, Collection[int]], topics: Sequence[str], partitions: Collection[int] | None = None
) -> list[tuple[str, int]]:
    """The (topic, partition)s to reset: all of each topic, or its chosen `partitions`, checked against `known`."""
    chosen = []
    for topic in topics:
        if topic not in known:
            msg = f"topic {topic} does not exist (or this client may not describe it)"
            raise UnknownTopic(msg)
        missing = set(partitions or ()) - set(known[topic])
        if missing:
            msg = f"topic {topic} has no partition {', '.join(map(str, sorted(missing)))}"
            raise UnknownTopic(msg)
        chosen += [(topic, p) for p in sorted(known[topic] if partitions is None else set(partitions))]
    return chosen


@dataclass(frozen=True, kw_only=True)
class PartitionReset:
    """One partition of a plan: committed offset now (None: none) -> the new one, within the log."""

    topic: str
    partition: int
    current: int | None
    new: int
    log_end: int

    @property
    def lag_after(self) -> int:
        return self.log_end - self.new


@dataclass(frozen=True, kw_only=True)
class ResetPlan:
    group_id: str
    spec: ResetSpec
    partitions: tuple[PartitionReset, ...]


def plan_reset(state: ReplayState, spec: ResetSpec) -> ResetPlan:
    """Per partition of `state`: current -> new offset, clamped to [log start, log end] like Kafka's tool."""
    if reset_time(spec, state.taken_at) != state.lookup_time:
        msg = f"the offsets were looked up for {state.lookup_time}, not for {spec}: read the state with this spec"
        raise ReplayPlanError(msg)
    resets = []
    for p in state.partitions:
        wanted = _wanted_offset(p, spec)
        new = min(max(wanted, p.log_start), p.log_end)
        resets.append(
            PartitionReset(topic=p.topic, partition=p.partition, current=p.committed, new=new, log_end=p.log_end)
        )
    return ResetPlan(group_id=state.group.group_id, spec=spec, partitions=tuple(resets))


def _wanted_offset(p: PartitionState, spec: ResetSpec) -> int:
    if isinstance(spec, ToEarliest):
        return p.log_start
    if isinstance(spec, ToLatest):
        return p.log_end
    if isinstance(spec, ToOffset):
        return spec.offset
    if isinstance(spec, ShiftBy):
        if p.committed is None:
            msg = f"cannot shift {p.topic}[{p.partition}]: the group has no committed offset there"
            raise ReplayPlanError(msg)
        return p.committed + spec.n
    return p.log_end if p.at_time is None else p.at_time  # no record that late: the end, as Kafka's tool does
