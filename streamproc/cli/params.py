"""Command-line values: s3:// URLs, partition lists, times, durations, the one reset spec of `replay` (pure + click).

Each parser raises ValueError with a message for the operator; the click types turn that into a usage
error (exit 2) naming the option.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, cast
from urllib.parse import unquote

import click

from streamproc.cli.errors import BadUsage
from streamproc.kafka import resets

T = TypeVar("T")


def parse_s3_url(text: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key); the key as stored (percent-escapes decoded, `+` kept)."""
    scheme, _, rest = text.partition("://")
    bucket, _, key = rest.partition("/")
    if scheme != "s3" or not bucket or not key:
        msg = f"{text!r} is not an S3 object URL such as s3://bucket/path/file.csv"
        raise ValueError(msg)
    return bucket, unquote(key)


def parse_partitions(text: str) -> tuple[int, ...]:
    """`0,2,5` or ranges such as `0-3,7` -> sorted distinct partition numbers."""
    chosen: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        low, dash, high = part.partition("-")
        if not (low.isdigit() and (not dash or high.isdigit())):
            msg = f"{text!r} is not a list of partitions such as 0,2,5 or 0-3"
            raise ValueError(msg)
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            msg = f"partition range {part} runs backwards"
            raise ValueError(msg)
        chosen.update(range(first, last + 1))
    return tuple(sorted(chosen))


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 time with a UTC offset or Z (a naive time would depend on this machine's zone)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        msg = f"{text!r} is not an ISO 8601 time such as 2026-01-31T12:00:00Z"
        raise ValueError(msg) from None
    if value.tzinfo is None:
        msg = f"{text!r} needs a time zone, e.g. {text.strip()}Z or {text.strip()}+01:00"
        raise ValueError(msg)
    return value


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration (PT1H, P1DT12H) as Kafka's --by-duration takes it."""
    try:
        return resets.parse_duration(text)
    except resets.ReplayPlanError as exc:
        raise ValueError(str(exc)) from None


def reset_spec(
    *,
    to_earliest: bool = False,
    to_latest: bool = False,
    to_datetime: datetime | None = None,
    by_duration: timedelta | None = None,
    shift_by: int | None = None,
    to_offset: int | None = None,
) -> resets.ResetSpec:
    """The one reset the options ask for; BadUsage unless exactly one was given."""
    given: list[resets.ResetSpec] = []
    if to_earliest:
        given.append(resets.ToEarliest())
    if to_latest:
        given.append(resets.ToLatest())
    if to_datetime is not None:
        given.append(resets.ToDatetime(to_datetime))
    if by_duration is not None:
        given.append(resets.ByDuration(by_duration))
    if shift_by is not None:
        given.append(resets.ShiftBy(shift_by))
    if to_offset is not None:
        given.append(resets.ToOffset(to_offset))
    if len(given) != 1:
        msg = (
            "say where to reset to with exactly one of --to-earliest, --to-latest, --to-datetime, "
            f"--by-duration, --shift-by, --to-offset (got {len(given)})"
        )
        raise BadUsage(msg)
    return given[0]


class Parsed(click.ParamType, Generic[T]):
    """A click type from one of the parsers above: its ValueError becomes a usage error naming the option."""

    def __init__(self, name: str, parse: Callable[[str], T]) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> T:
        if not isinstance(value, str):
            return cast(T, value)  # click passes values it already converted (defaults) through again
        try:
            return self._parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


S3_URL = Parsed("s3://bucket/key", parse_s3_url)
PARTITIONS = Parsed("partitions", parse_partitions)
DATETIME = Parsed("iso-time", parse_datetime)
DURATION = Parsed("iso-duration", parse_duration)
