"""File-level controls: declarations refuse nonsense, the verdict names what failed with expected and actual."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

import pytest

from streamproc.datasets import pharmacy_claims, rules
from streamproc.datasets.columns import Column
from streamproc.datasets.controls import (
    ControlPolicy,
    Controls,
    Declared,
    ErrorBudget,
    FileFacts,
    Limit,
    ManifestRule,
    TrailerLayout,
    evaluate,
)

SHA = "a" * 64


def facts(read: int = 100, rejected: int = 0, **sums: str) -> FileFacts:
    return FileFacts(rows_read=read, rows_rejected=rejected, sha256=SHA, sums={k: Decimal(v) for k, v in sums.items()})


def test_a_dataset_that_declares_nothing_has_no_controls_and_every_file_passes() -> None:
    verdict = evaluate(Controls(), facts(read=10, rejected=9))
    assert not Controls().declared
    assert verdict.findings == ()
    assert not verdict.held
    assert not verdict.warned


@pytest.mark.parametrize(
    ("budget", "error"),
    [
        (lambda: ErrorBudget(share=Limit(1.5)), "between 0 and 1"),
        (lambda: ErrorBudget(count=Limit(2.5)), "whole number"),
        (lambda: Limit(-1), ">= 0"),
        (lambda: Limit(float("nan")), ">= 0"),
        (lambda: Limit(1, action=cast("Any", "drop")), "warn or hold"),
    ],
)
def test_an_error_budget_that_makes_no_sense_is_refused_when_declared(budget: Callable[[], object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        budget()


def test_a_share_over_budget_holds_the_file_and_says_expected_and_actual() -> None:
    controls = Controls(budget=ErrorBudget(share=Limit(0.05, "hold")))
    verdict = evaluate(controls, facts(read=200, rejected=80))
    assert verdict.held
    (finding,) = verdict.findings
    assert finding.expected == "at most 5 %"
    assert finding.actual == "40 % (80 of 200 rows)"
    assert verdict.reason == "error budget (share of rows rejected): expected at most 5 %, found 40 % (80 of 200 rows)"


def test_a_budget_exactly_reached_passes_and_one_row_more_does_not() -> None:
    controls = Controls(budget=ErrorBudget(share=Limit(0.1), count=Limit(10)))
    assert evaluate(controls, facts(read=100, rejected=10)).findings == ()
    verdict = evaluate(controls, facts(read=100, rejected=11))
    assert [f.control for f in verdict.findings] == [
        "error budget (share of rows rejected)",
        "error budget (rows rejected)",
    ]


def test_a_warn_limit_flags_the_file_without_holding_it() -> None:
    controls = Controls(budget=ErrorBudget(count=Limit(0, "warn"), share=Limit(0.5, "hold")))
    verdict = evaluate(controls, facts(read=100, rejected=3))
    assert verdict.warned
    assert not verdict.held


def test_an_empty_file_is_never_over_a_share_budget() -> None:
    controls = Controls(budget=ErrorBudget(share=Limit(0.0)))
    assert evaluate(controls, facts(read=0, rejected=0)).findings == ()


def test_totals_that_reconcile_pass_and_each_mismatch_is_its_own_finding() -> None:
    good = Declared(source="trailer", row_count=100, sums={"total_paid": Decimal("10.50")})
    assert evaluate(Controls(), facts(total_paid="10.5"), [good]).findings == ()  # 10.50 == 10.5
    bad = Declared(source="manifest", row_count=99, sums={"total_paid": Decimal("11.00")}, sha256="b" * 64)
    verdict = evaluate(Controls(), facts(total_paid="10.50"), [bad])
    assert verdict.held
    assert [(f.control, f.expected, f.actual) for f in verdict.findings] == [
        ("manifest row count", "99", "100"),
        ("manifest sum of total_paid", "11.00", "10.50"),
        ("manifest SHA-256", "b" * 64, SHA),
    ]


def test_a_sum_mismatch_says_how_many_rows_had_no_readable_value() -> None:
    declared = Declared(source="trailer", row_count=100, sums={"total_paid": Decimal(5)})
    file = FileFacts(
        rows_read=100, rows_rejected=2, sha256=SHA, sums={"total_paid": Decimal(3)}, unsummed={"total_paid": 2}
    )
    (finding,) = evaluate(Controls(), file, [declared]).findings
    assert finding.actual == "3 (2 rows with no readable total_paid left out)"


def test_a_duplicate_is_held_naming_the_first_file_only_where_the_dataset_checks_duplicates() -> None:
    first = "s3://b/pharmacy_claims/a.csv (version 1)"
    assert evaluate(Controls(), facts(), duplicate_of=first).findings == ()
    verdict = evaluate(Controls(duplicates=True), facts(), duplicate_of=first)
    assert verdict.held
    assert first in verdict.reason


def test_holds_come_first_in_the_reason() -> None:
    controls = Controls(budget=ErrorBudget(count=Limit(0, "warn")), duplicates=True)
    verdict = evaluate(controls, facts(rejected=1), duplicate_of="the first")
    assert verdict.reason.startswith("duplicate file")


def test_the_longest_matching_prefix_sets_a_senders_controls() -> None:
    strict, lax = Controls(duplicates=True), Controls(budget=ErrorBudget(share=Limit(0.5)))
    policy = ControlPolicy(default=Controls(), by_prefix=(("claims/", lax), ("claims/acme/", strict)))
    assert policy.for_key("claims/acme/f.csv") is strict
    assert policy.for_key("claims/other/f.csv") is lax
    assert policy.for_key("audit/f.csv") == Controls()
    assert policy.declared
    assert not ControlPolicy().declared


def test_summed_columns_must_be_numeric_columns_of_the_dataset() -> None:
    controls = Controls(
        trailer=TrailerLayout(sums=("total_paid", "claim_id")), manifest=ManifestRule(sums=("copay", "nope"))
    )
    assert controls.summed_columns == ("total_paid", "claim_id", "copay", "nope")
    problems = controls.check_columns({"total_paid": 2, "copay": 2, "claim_id": None})
    assert problems == [
        "control totals sum 'claim_id', which is not a numeric column",
        "control totals sum 'nope', which is not a column",
    ]


@pytest.mark.parametrize(
    ("pg_type", "scale"),
    [
        ("numeric(12,2)", 2),
        ("numeric(12, 3)", 3),
        ("numeric(10)", 0),
        ("numeric", 16383),
        ("smallint", 0),
        ("text", None),
        ("date", None),
        ("char(11)", None),
    ],
)
def test_a_columns_scale_comes_from_its_type(pg_type: str, scale: int | None) -> None:
    assert Column("c", pg_type, True, rules.text(10)).scale == scale


def test_a_dataset_whose_controls_sum_a_text_column_is_refused_when_declared() -> None:
    bad = Controls(trailer=TrailerLayout(sums=("member_id",)))
    policy = ControlPolicy(default=Controls(), by_prefix=(("pharmacy_claims/acme/", bad),))
    with pytest.raises(ValueError, match="'member_id', which is not a numeric column"):
        dataclasses.replace(pharmacy_claims.DATASET, controls=policy)


def test_a_dataset_may_sum_its_money_columns() -> None:
    good = Controls(trailer=TrailerLayout(sums=("total_paid",)), manifest=ManifestRule(sums=("copay",)))
    made = dataclasses.replace(pharmacy_claims.DATASET, controls=ControlPolicy(default=good))
    assert made.controls.for_key("pharmacy_claims/a.csv") is good
