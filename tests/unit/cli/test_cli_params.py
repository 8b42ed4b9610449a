"""Command-line values: S3 URLs, partition lists, times with a zone, and exactly one reset spec for `replay`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import click
import pytest

from streamproc.cli.errors import USAGE, BadUsage
from streamproc.cli.params import (
    DATETIME,
    PARTITIONS,
    S3_URL,
    parse_datetime,
    parse_duration,
    parse_partitions,
    parse_s3_url,
    reset_spec,
)
from streamproc.kafka import resets


def test_an_s3_url_splits_into_bucket_and_key_with_escapes_decoded() -> None:
    assert parse_s3_url("s3://drop/pharmacy_claims/a%20b.csv") == ("drop", "pharmacy_claims/a b.csv")
    assert parse_s3_url("s3://drop/dir/sub/x+y.csv") == ("drop", "dir/sub/x+y.csv")


@pytest.mark.parametrize("text", ["drop/a.csv", "s3://drop", "s3://drop/", "s3:///a.csv", "http://drop/a.csv"])
def test_anything_but_an_object_url_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match=r"s3://bucket/path/file\.csv"):
        parse_s3_url(text)


def test_partitions_are_lists_and_ranges_sorted_without_repeats() -> None:
    assert parse_partitions("2,0") == (0, 2)
    assert parse_partitions("0-3,2,7") == (0, 1, 2, 3, 7)
    assert parse_partitions(" 5 ") == (5,)


@pytest.mark.parametrize("text", ["", "a", "1,,2", "-1", "3-1", "1-"])
def test_a_partition_list_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="partition"):
        parse_partitions(text)


def test_a_time_needs_a_zone_and_z_means_utc() -> None:
    assert parse_datetime("2026-03-01T12:00:00Z") == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert parse_datetime("2026-03-01T13:00:00+01:00") == datetime(2026, 3, 1, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="needs a time zone"):
        parse_datetime("2026-03-01T12:00:00")
    with pytest.raises(ValueError, match="not an ISO 8601 time"):
        parse_datetime("yesterday")


def test_a_duration_is_iso_8601_as_kafka_takes_it() -> None:
    assert parse_duration("PT1H30M") == timedelta(hours=1, minutes=30)
    with pytest.raises(ValueError, match="ISO 8601 duration"):
        parse_duration("90 minutes")


def test_exactly_one_reset_spec_is_taken() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    assert reset_spec(to_earliest=True) == resets.ToEarliest()
    assert reset_spec(to_datetime=at) == resets.ToDatetime(at)
    assert reset_spec(shift_by=-5) == resets.ShiftBy(-5)
    assert reset_spec(to_offset=0) == resets.ToOffset(0)
    assert reset_spec(by_duration=timedelta(hours=1)) == resets.ByDuration(timedelta(hours=1))


@pytest.mark.parametrize(
    "ask",
    [
        lambda: reset_spec(),
        lambda: reset_spec(to_earliest=True, to_latest=True),
        lambda: reset_spec(shift_by=1, to_offset=3),
    ],
    ids=["none", "earliest-and-latest", "shift-and-offset"],
)
def test_no_reset_spec_or_two_of_them_is_a_usage_error(ask: Callable[[], object]) -> None:
    with pytest.raises(BadUsage, match="exactly one of --to-earliest") as refused:
        ask()
    assert refused.value.code == USAGE


def test_the_click_types_turn_a_parse_error_into_a_usage_error_naming_the_option() -> None:
    option = click.Option(["--partitions"])
    with pytest.raises(click.BadParameter, match="not a list of partitions") as bad:
        PARTITIONS.convert("x", option, None)
    assert bad.value.exit_code == USAGE
    assert S3_URL.convert("s3://b/k", None, None) == ("b", "k")
    assert DATETIME.convert(datetime(2026, 1, 1, tzinfo=UTC), None, None) == datetime(2026, 1, 1, tzinfo=UTC)
