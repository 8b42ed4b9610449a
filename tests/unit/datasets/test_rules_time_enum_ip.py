"""Field rules for dates, timestamps, enumerations and IP addresses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from streamproc.datasets import rules
from streamproc.datasets.rules import Rule, Violation

# 2024-03-10 12:00 UTC: so today + 1 day is 2024-03-11.
NOON_MARCH_10 = datetime(2024, 3, 10, 12, tzinfo=UTC).timestamp()
FILL_DATE = rules.date_not_after_today(days_ahead=1, clock=lambda: NOON_MARCH_10)
STATUS = rules.enum("PAID", "REVERSED", "REJECTED")


def broken_rule(rule: Rule[object], value: str) -> str:
    with pytest.raises(Violation) as caught:
        rule(value)
    return caught.value.rule


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01", date(2024, 3, 1)),
        ("20240301", date(2024, 3, 1)),
        ("2024-02-29", date(2024, 2, 29)),
        ("2024-03-10", date(2024, 3, 10)),
        ("2024-03-11", date(2024, 3, 11)),  # today + 1 day
        ("1900-01-01", date(1900, 1, 1)),
    ],
)
def test_a_date_in_either_form_up_to_tomorrow_passes(value: str, expected: date) -> None:
    assert FILL_DATE(value) == expected


@pytest.mark.parametrize("value", ["2024-03-12", "20240312", "2999-01-01"])
def test_a_date_after_tomorrow_is_in_the_future(value: str) -> None:
    assert broken_rule(FILL_DATE, value) == "date_future"


@pytest.mark.parametrize(
    "value",
    [
        "2023-02-29",
        "2024-13-01",
        "2024-04-31",
        "0000-01-01",
        "2024/03/01",
        "2024-3-1",
        "03/01/2024",
        "240301",
        "2024-W10-1",  # an ISO week date: fromisoformat takes it, the contract does not
        "2024-061",
        "2024-03-01T00:00",
        "2024-+3-01",
        "".join(chr(ord(c) + 0xFEE0) for c in "20240301"),  # full-width digits
    ],
)
def test_anything_but_a_real_calendar_date_in_the_two_forms_is_refused(value: str) -> None:
    assert broken_rule(FILL_DATE, value) == "date_format"


def test_tomorrow_moves_when_the_utc_day_changes() -> None:
    now = [datetime(2024, 3, 10, 23, 59, tzinfo=UTC).timestamp()]
    rule = rules.date_not_after_today(days_ahead=1, clock=lambda: now[0])
    assert broken_rule(rule, "2024-03-12") == "date_future"
    now[0] += 120  # 00:01 on March 11
    assert rule("2024-03-12") == date(2024, 3, 12)


def test_a_date_rule_with_no_days_ahead_refuses_tomorrow() -> None:
    rule = rules.date_not_after_today(days_ahead=0, clock=lambda: NOON_MARCH_10)
    assert rule("2024-03-10") == date(2024, 3, 10)
    assert broken_rule(rule, "2024-03-11") == "date_future"


@pytest.mark.parametrize(
    ("value", "offset"),
    [
        ("2024-03-01T12:00:00Z", timedelta(0)),
        ("2024-03-01T12:00:00+00:00", timedelta(0)),
        ("2024-03-01T12:00:00.123456-05:00", timedelta(hours=-5)),
        ("2024-03-01T12:00:00+0530", timedelta(hours=5, minutes=30)),
        ("2024-03-01 12:00:00+01:00", timedelta(hours=1)),
        ("20240301T120000Z", timedelta(0)),
    ],
)
def test_a_timestamp_with_an_offset_or_z_passes_and_keeps_its_offset(value: str, offset: timedelta) -> None:
    parsed = rules.timestamp_with_offset(value)
    assert parsed.utcoffset() == offset
    assert parsed.replace(tzinfo=None).date() == date(2024, 3, 1)


def test_an_aware_timestamp_is_the_same_instant_whatever_its_offset() -> None:
    utc = rules.timestamp_with_offset("2024-03-01T12:00:00Z")
    assert rules.timestamp_with_offset("2024-03-01T07:00:00-05:00") == utc
    assert utc.tzinfo == UTC


@pytest.mark.parametrize("value", ["2024-03-01T12:00:00", "2024-03-01 12:00", "2024-03-01T12:00:00.5"])
def test_a_naive_timestamp_is_ambiguous_and_refused(value: str) -> None:
    assert broken_rule(rules.timestamp_with_offset, value) == "timestamp_offset"


@pytest.mark.parametrize(
    "value",
    ["2024-03-01", "yesterday", "2024-03-01T25:00:00Z", "2024-02-30T12:00:00Z", "1709294400", "2024-03-01T12:00:00ZZ"],
)
def test_anything_but_an_iso_8601_date_and_time_is_refused(value: str) -> None:
    assert broken_rule(rules.timestamp_with_offset, value) == "timestamp_format"


@pytest.mark.parametrize("value", ["PAID", "paid", "Paid", "pAiD"])
def test_an_enum_matches_in_any_case_and_comes_out_upper_case(value: str) -> None:
    assert STATUS(value) == "PAID"


# "pa\u0131d" has a dotless i, which upper-cases to I; \uff30... is PAID in full-width letters.
@pytest.mark.parametrize("value", ["PAYED", "PAID!", "P", "PAID REVERSED", "pa\u0131d", "\uff30\uff21\uff29\uff24"])
def test_a_word_outside_the_enum_is_refused(value: str) -> None:
    assert broken_rule(STATUS, value) == "enum"


def test_the_enum_message_lists_the_choices() -> None:
    with pytest.raises(Violation, match="PAID, REVERSED, REJECTED"):
        STATUS("nope")


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("192.168.0.1", "192.168.0.1"),
        ("255.255.255.255", "255.255.255.255"),
        ("::1", "::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("fe80::1", "fe80::1"),
    ],
)
def test_an_ipv4_or_ipv6_address_passes_in_canonical_form(value: str, canonical: str) -> None:
    assert rules.ip_address(value) == canonical


@pytest.mark.parametrize(
    "value", ["256.1.1.1", "1.2.3", "01.2.3.4", "10.0.0.0/8", "fe80::1%eth0", "localhost", "::g", "1.2.3.4:80"]
)
def test_anything_but_a_plain_address_is_refused(value: str) -> None:
    assert broken_rule(rules.ip_address, value) == "ip"
