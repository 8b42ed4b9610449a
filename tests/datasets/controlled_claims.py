"""Test-only dataset `controlled_claims`: pharmacy claims under controls (an error budget that holds past 10 % of
rows rejected, and a trailer with the row count and the sum of total_paid), for the controls' real-stack tests."""

from __future__ import annotations

import dataclasses

from streamproc.datasets import pharmacy_claims
from streamproc.datasets.controls import ControlPolicy, Controls, ErrorBudget, Limit, TrailerLayout

CONTROLS = Controls(
    budget=ErrorBudget(share=Limit(0.10, "hold")),
    trailer=TrailerLayout(sums=("total_paid",)),
)

DATASET = dataclasses.replace(
    pharmacy_claims.DATASET,
    name="controlled_claims",
    topic="claims.controlled",
    table="controlled_claims",
    key_prefixes=("controlled_claims/",),
    filename_patterns=(),
    controls=ControlPolicy(default=CONTROLS),
)
