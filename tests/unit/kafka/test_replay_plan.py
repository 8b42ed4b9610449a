"""Replay planning: each reset lands where Kafka's `--reset-offsets` would, clamped to the log, with its lag."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamproc.kafka.resets import (
    ByDuration,
    GroupDescription,
    GroupHasActiveMembers,
    Member,
    PartitionState,
    ReplayPlanError,
    ReplayState,
    ResetSpec,
    ShiftBy,
    ToDatetime,
    ToEarliest,
    ToLatest,
    ToOffset,
    UnknownTopic,
    choose_partitions,
    parse_duration,
    plan_reset,
    reset_time,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GROUP = GroupDescription(
    group_id="sink", state="Empty", protocol_type="consumer", members=(), committed={("t", 0): 40, ("t", 1): 5}
)


def state(spec: ResetSpec, at_time: tuple[int | None, int | None] = (None, None)) -> ReplayState:
    """Partition 0 holds offsets 10..99 (older ones deleted), partition 1 holds 0..9; committed 40 and 5."""
    partitions = (
        PartitionState(topic="t", partition=0, committed=40, log_start=10, log_end=100, at_time=at_time[0]),
        PartitionState(topic="t", partition=1, committed=5, log_start=0, log_end=10, at_time=at_time[1]),
    )
    return ReplayState(group=GROUP, partitions=partitions, taken_at=NOW, lookup_time=reset_time(spec, NOW))


def new_offsets(spec: ResetSpec, at_time: tuple[int | None, int | None] = (None, None)) -> list[int]:
    return [p.new for p in plan_reset(state(spec, at_time), spec).partitions]


def test_to_earliest_goes_to_each_log_start_and_reports_the_whole_log_as_lag() -> None:
    plan = plan_reset(state(ToEarliest()), ToEarliest())
    assert plan.group_id == "sink"
    assert [(p.partition, p.current, p.new, p.lag_after) for p in plan.partitions] == [(0, 40, 10, 90), (1, 5, 0, 10)]


def test_to_latest_goes_to_each_log_end_with_no_lag() -> None:
    plan = plan_reset(state(ToLatest()), ToLatest())
    assert [(p.new, p.lag_after) for p in plan.partitions] == [(100, 0), (10, 0)]


def test_to_offset_is_clamped_into_each_log() -> None:
    assert new_offsets(ToOffset(7)) == [10, 7]
    assert new_offsets(ToOffset(50)) == [50, 10]


def test_shift_by_moves_from_the_committed_offset_and_stops_at_the_log_bounds() -> None:
    assert new_offsets(ShiftBy(-10)) == [30, 0]
    assert new_offsets(ShiftBy(3)) == [43, 8]
    assert new_offsets(ShiftBy(-35)) == [10, 0]


def test_shift_by_refuses_a_partition_where_the_group_never_committed() -> None:
    spec = ShiftBy(1)
    empty = PartitionState(topic="t", partition=2, committed=None, log_start=0, log_end=3)
    with pytest.raises(ReplayPlanError, match=r"cannot shift t\[2\]"):
        plan_reset(ReplayState(group=GROUP, partitions=(empty,), taken_at=NOW), spec)


def test_to_datetime_uses_the_looked_up_offsets_and_the_log_end_where_no_record_is_that_late() -> None:
    spec = ToDatetime(NOW - timedelta(hours=2))
    assert new_offsets(spec, at_time=(60, None)) == [60, 10]


def test_by_duration_looks_up_the_time_that_long_before_the_state_was_read() -> None:
    spec = ByDuration(parse_duration("PT1H"))
    assert state(spec).lookup_time == NOW - timedelta(hours=1)
    assert new_offsets(spec, at_time=(55, 3)) == [55, 3]


def test_a_state_read_for_another_time_is_not_planned() -> None:
    read_for = state(ToDatetime(NOW - timedelta(hours=1)))
    with pytest.raises(ReplayPlanError, match="looked up for"):
        plan_reset(read_for, ToDatetime(NOW - timedelta(hours=2)))
    with pytest.raises(ReplayPlanError, match="looked up for"):
        plan_reset(read_for, ToEarliest())


def test_a_partition_without_a_committed_offset_shows_no_current_offset() -> None:
    fresh = PartitionState(topic="t", partition=3, committed=None, log_start=0, log_end=8)
    plan = plan_reset(ReplayState(group=GROUP, partitions=(fresh,), taken_at=NOW), ToEarliest())
    assert (plan.partitions[0].current, plan.partitions[0].new, fresh.lag) == (None, 0, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT1H", timedelta(hours=1)),
        ("PT30M", timedelta(minutes=30)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("pt1.5s", timedelta(seconds=1.5)),
        ("P2D", timedelta(days=2)),
    ],
)
def test_iso_8601_durations_parse_as_kafka_takes_them(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "1H", "PT1X", "-PT1H", "P1DT"])
def test_anything_else_is_not_a_duration(text: str) -> None:
    with pytest.raises(ReplayPlanError, match="not an ISO 8601 duration"):
        parse_duration(text)


def test_a_datetime_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ReplayPlanError, match="needs a time zone"):
        ToDatetime(NOW.replace(tzinfo=None))


def test_chosen_partitions_are_checked_against_the_cluster() -> None:
    known = {"a": {1, 0}, "b": {0, 1, 2}}
    assert choose_partitions(known, ["b", "a"]) == [("b", 0), ("b", 1), ("b", 2), ("a", 0), ("a", 1)]
    assert choose_partitions(known, ["b"], [2]) == [("b", 2)]
    with pytest.raises(UnknownTopic, match="topic c does not exist"):
        choose_partitions(known, ["c"])
    with pytest.raises(UnknownTopic, match="topic a has no partition 2"):
        choose_partitions(known, ["a", "b"], [2])


def test_the_active_members_error_names_each_member_and_is_terminal() -> None:
    members = [Member(member_id="m-1", client_id="worker-a", host="/10.0.0.5")]
    error = GroupHasActiveMembers("sink", members)
    assert "m-1 (client worker-a, host /10.0.0.5)" in str(error)
    assert error.retriable is False


def test_importing_the_replay_planner_loads_no_kafka_client() -> None:
    probe = "import json, sys, streamproc.kafka.resets; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = {name.split(".")[0] for name in json.loads(done.stdout)}
    assert loaded.isdisjoint({"aiokafka", "faust", "mode", "psycopg", "aioboto3"})
