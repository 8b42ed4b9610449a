"""Test-only dataset whose table is stricter than its rules (smallint vs. any integer): the sink must isolate
the rows the database refuses."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from streamproc.datasets import rules
from streamproc.datasets.model import Column, Dataset


class DoseTally(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    tally_id: Annotated[str, Meta(min_length=1, max_length=64, pattern=rules.ID_PATTERN)]
    doses: int
    patient_id: Annotated[str, Meta(max_length=32, description="PHI")] | None = None


DATASET = Dataset(
    name="dose_tallies",
    topic="test.dose_tallies",
    table="dose_tallies",
    natural_key="tally_id",
    key_prefixes=("dose_tallies/",),
    filename_patterns=("dose_tally*.csv",),
    columns=(
        Column("tally_id", "text", True, rules.identifier(64)),
        Column("doses", "smallint", True, rules.integer(0, 10**9)),  # deliberately wider than smallint
        Column("patient_id", "text", False, rules.text(32)),
    ),
    row_type=DoseTally,
    phi_fields=frozenset({"patient_id"}),
    conflict="latest_wins",
)
