"""Dataset `pharmacy_claims`: one row per pharmacy claim; a later source row for a claim_id wins."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from streamproc.contract.events import FieldError
from streamproc.datasets import rules
from streamproc.datasets.controls import ControlPolicy, Controls, ErrorBudget, Limit
from streamproc.datasets.model import Column, Dataset, RowCheck

_NPI = Meta(pattern="^[0-9]{10}$", description="10 digits with a valid NPI check digit (Luhn over 80840 + 9 digits)")
_MONEY = Meta(description="decimal >= 0, at most 2 decimal places, numeric(12,2)")
_REVERSAL_MESSAGE = "may be negative only when claim_status is REVERSED"


class PharmacyClaim(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One validated pharmacy claim row."""

    claim_id: Annotated[str, Meta(min_length=1, max_length=64, pattern=rules.ID_PATTERN)]
    member_id: Annotated[str, Meta(min_length=1, max_length=32, description="PHI")]
    rx_number: Annotated[str, Meta(min_length=1, max_length=20)]
    fill_date: Annotated[date, Meta(description="not after the day after ingestion (UTC)")]
    ndc: Annotated[str, Meta(pattern="^[0-9]{11}$", description="NDC normalised to 11 digits (5-4-2)")]
    drug_name: Annotated[str, Meta(max_length=200)] | None = None
    quantity: Annotated[Decimal, Meta(description="decimal > 0, at most 3 decimal places, numeric(12,3)")]
    days_supply: Annotated[int, Meta(ge=1, le=365)]
    prescriber_npi: Annotated[str, _NPI]
    pharmacy_npi: Annotated[str, _NPI]
    ingredient_cost: Annotated[Decimal, _MONEY]
    dispensing_fee: Annotated[Decimal, _MONEY]
    copay: Annotated[Decimal, _MONEY]
    total_paid: Annotated[Decimal, Meta(description="at most 2 decimal places; negative only when REVERSED")]
    claim_status: Literal["PAID", "REVERSED", "REJECTED"]

    def __post_init__(self) -> None:
        if self.total_paid < 0 and self.claim_status != "REVERSED":
            msg = f"total_paid {_REVERSAL_MESSAGE}"
            raise ValueError(msg)


def negative_only_when_reversed(row: Mapping[str, object]) -> FieldError | None:
    """total_paid below zero is a reversal; on any other status it is an error."""
    total, status = row.get("total_paid"), row.get("claim_status")
    if isinstance(total, Decimal) and total < 0 and status is not None and status != "REVERSED":
        return FieldError(field="total_paid", rule="negative_not_reversed", message=_REVERSAL_MESSAGE)
    return None


_MONEY_RULE = rules.decimal(scale=2, precision=12, sign="non_negative")

# File-level controls (streamproc.datasets.controls; README "Controls"): a file with more than half of its rows
# rejected is HELD until an operator decides; one with more than 1,000 rejected rows loads, flagged (a warning in
# the ledger and its receipt); a file whose decompressed content equals one of claims loaded before is HELD as a
# duplicate (a resent file would otherwise load twice). A sender's own limits go in `by_prefix`.
CONTROLS = ControlPolicy(
    default=Controls(budget=ErrorBudget(share=Limit(0.5, "hold"), count=Limit(1000, "warn")), duplicates=True)
)

DATASET = Dataset(
    name="pharmacy_claims",
    topic="claims.pharmacy",
    table="pharmacy_claims",
    natural_key="claim_id",
    key_prefixes=("pharmacy_claims/",),
    controls=CONTROLS,
    filename_patterns=("pharmacy_claim*.csv",),
    columns=(
        Column("claim_id", "text", True, rules.identifier(64)),
        Column("member_id", "text", True, rules.text(32)),
        Column("rx_number", "text", True, rules.text(20)),
        Column("fill_date", "date", True, rules.date_not_after_today(days_ahead=1)),
        Column("ndc", "char(11)", True, rules.ndc),
        Column("drug_name", "text", False, rules.text(200)),
        Column("quantity", "numeric(12,3)", True, rules.decimal(scale=3, precision=12, sign="positive")),
        Column("days_supply", "smallint", True, rules.integer(1, 365)),
        Column("prescriber_npi", "char(10)", True, rules.npi),
        Column("pharmacy_npi", "char(10)", True, rules.npi),
        Column("ingredient_cost", "numeric(12,2)", True, _MONEY_RULE),
        Column("dispensing_fee", "numeric(12,2)", True, _MONEY_RULE),
        Column("copay", "numeric(12,2)", True, _MONEY_RULE),
        Column("total_paid", "numeric(12,2)", True, rules.decimal(scale=2, precision=12, sign="any")),
        Column("claim_status", "text", True, rules.enum("PAID", "REVERSED", "REJECTED")),
    ),
    row_type=PharmacyClaim,
    phi_fields=frozenset({"member_id"}),
    conflict="latest_wins",
    row_checks=(
        RowCheck(
            reads=("total_paid", "claim_status"),
            check=negative_only_when_reversed,
            passes_fast=lambda total, _status: total is None or not str(total).startswith("-"),
        ),
    ),
)
