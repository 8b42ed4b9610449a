"""Field rules for decimals and whole numbers: scale, sign, size, and what counts as a number at all."""

from __future__ import annotations

from decimal import Decimal

import pytest

from streamproc.datasets import rules
from streamproc.datasets.rules import Rule, Violation

MONEY = rules.decimal(scale=2, precision=12, sign="non_negative")
QUANTITY = rules.decimal(scale=3, precision=12, sign="positive")
TOTAL = rules.decimal(scale=2, precision=12, sign="any")
DAYS = rules.integer(1, 365)


def broken_rule(rule: Rule[object], value: str) -> str:
    with pytest.raises(Violation) as caught:
        rule(value)
    return caught.value.rule


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", Decimal(0)),
        ("0.00", Decimal("0.00")),
        ("12.34", Decimal("12.34")),
        ("12.3", Decimal("12.3")),
        ("+5", Decimal(5)),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("9999999999.99", Decimal("9999999999.99")),  # 10 digits before the point: numeric(12,2) holds it
        ("0000000000012.50", Decimal("12.50")),  # leading zeros do not count
    ],
)
def test_a_money_amount_up_to_two_places_passes(value: str, expected: Decimal) -> None:
    assert MONEY(value) == expected


def test_trailing_zeros_beyond_the_scale_are_dropped_because_they_round_nothing() -> None:
    assert str(MONEY("12.3400")) == "12.34"
    assert str(QUANTITY("1.5000")) == "1.500"


def test_negative_zero_is_zero() -> None:
    assert str(MONEY("-0.00")) == "0.00"
    assert str(TOTAL("-0.00")) == "0.00"


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("12.345", "decimal_scale"),
        ("0.001", "decimal_scale"),
        ("12.3401", "decimal_scale"),
        ("-1.00", "decimal_range"),
        ("-0.01", "decimal_range"),
        ("10000000000.00", "decimal_precision"),  # 11 digits before the point overflow numeric(12,2)
        ("1e3", "decimal_format"),
        ("NaN", "decimal_format"),
        ("Infinity", "decimal_format"),
        ("1,000.00", "decimal_format"),
        ("1_000", "decimal_format"),
        (".", "decimal_format"),
        ("+", "decimal_format"),
        ("--1", "decimal_format"),
        ("1.2.3", "decimal_format"),
        ("$5", "decimal_format"),
        ("١٢", "decimal_format"),  # Arabic-Indic digits: Decimal() would take them, the contract does not
    ],
)
def test_a_money_amount_with_more_places_a_sign_or_another_shape_is_refused(value: str, rule: str) -> None:
    assert broken_rule(MONEY, value) == rule


def test_a_quantity_must_be_greater_than_zero_with_up_to_three_places() -> None:
    assert QUANTITY("0.001") == Decimal("0.001")
    assert QUANTITY("30") == Decimal(30)
    assert broken_rule(QUANTITY, "0") == "decimal_range"
    assert broken_rule(QUANTITY, "0.000") == "decimal_range"
    assert broken_rule(QUANTITY, "-1") == "decimal_range"
    assert broken_rule(QUANTITY, "1.2345") == "decimal_scale"
    assert broken_rule(QUANTITY, "1000000000") == "decimal_precision"  # numeric(12,3): 9 digits before the point
    assert QUANTITY("999999999.999") == Decimal("999999999.999")


def test_a_total_may_be_negative_by_itself_the_status_is_checked_with_the_row() -> None:
    assert TOTAL("-11.50") == Decimal("-11.50")
    assert broken_rule(TOTAL, "-11.505") == "decimal_scale"


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("365", 365), ("+30", 30), ("030", 30), ("0" * 40 + "7", 7)])
def test_days_supply_from_1_to_365_passes(value: str, expected: int) -> None:
    assert DAYS(value) == expected


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("0", "integer_range"),
        ("366", "integer_range"),
        ("-1", "integer_range"),
        ("9" * 5000, "integer_range"),  # refused quickly, without int() of a huge string
        ("30.0", "integer_format"),
        ("1e2", "integer_format"),
        ("thirty", "integer_format"),
        ("+", "integer_format"),
        ("3 0", "integer_format"),
        ("\uff13\uff10", "integer_format"),  # full-width 30
    ],
)
def test_days_supply_out_of_range_or_not_whole_is_refused(value: str, rule: str) -> None:
    assert broken_rule(DAYS, value) == rule
