"""Test-only dataset `vaccinations`: proves a dataset is one module, with no change anywhere else."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from streamproc.datasets import rules
from streamproc.datasets.model import Column, Dataset

SITES = ("LEFT_ARM", "RIGHT_ARM", "LEFT_THIGH", "RIGHT_THIGH", "ORAL", "NASAL")


class Vaccination(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One administered vaccine dose."""

    vaccination_id: Annotated[str, Meta(min_length=1, max_length=64, pattern=rules.ID_PATTERN)]
    patient_id: Annotated[str, Meta(min_length=1, max_length=32, description="PHI")]
    vaccine_code: Annotated[str, Meta(min_length=1, max_length=16)]
    administered_on: date
    dose_number: Annotated[int, Meta(ge=1, le=10)]
    site: Literal["LEFT_ARM", "RIGHT_ARM", "LEFT_THIGH", "RIGHT_THIGH", "ORAL", "NASAL"]
    lot_number: Annotated[str, Meta(max_length=32)] | None = None


DATASET = Dataset(
    name="vaccinations",
    topic="vaccinations.records",
    table="vaccinations",
    natural_key="vaccination_id",
    key_prefixes=("vaccinations/",),
    filename_patterns=("vaccination*.csv",),
    columns=(
        Column("vaccination_id", "text", True, rules.identifier(64)),
        Column("patient_id", "text", True, rules.text(32)),
        Column("vaccine_code", "text", True, rules.text(16)),
        Column("administered_on", "date", True, rules.date_not_after_today(days_ahead=0)),
        Column("dose_number", "smallint", True, rules.integer(1, 10)),
        Column("site", "text", True, rules.enum(*SITES)),
        Column("lot_number", "text", False, rules.text(32)),
    ),
    row_type=Vaccination,
    phi_fields=frozenset({"patient_id"}),
    conflict="latest_wins",
)

# One valid data row in column order, for tests that need a file of this dataset.
SAMPLE_ROW = "VAX-0001,PAT-42,208,2024-03-01,2,left_arm,EW0150"
