"""Dataset `audit_records`: append-only audit trail; a repeated audit_id is a duplicate and changes nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from streamproc.datasets import rules
from streamproc.datasets.controls import ControlPolicy, Controls, ErrorBudget, Limit
from streamproc.datasets.model import Column, Dataset

ACTIONS = ("CREATE", "READ", "UPDATE", "DELETE", "LOGIN", "LOGOUT", "EXPORT")
OUTCOMES = ("SUCCESS", "FAILURE")


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One validated audit record row."""

    audit_id: Annotated[str, Meta(min_length=1, max_length=64, pattern=rules.ID_PATTERN)]
    occurred_at: Annotated[datetime, Meta(tz=True, description="ISO 8601 with a UTC offset or Z")]
    actor_id: Annotated[str, Meta(min_length=1, max_length=64)]
    action: Literal["CREATE", "READ", "UPDATE", "DELETE", "LOGIN", "LOGOUT", "EXPORT"]
    resource_type: Annotated[str, Meta(min_length=1, max_length=64)]
    resource_id: Annotated[str, Meta(max_length=128)] | None = None
    outcome: Literal["SUCCESS", "FAILURE"]
    source_ip: Annotated[str, Meta(description="IPv4 or IPv6 address")] | None = None
    details: Annotated[str, Meta(max_length=2000, description="free text; PHI, masked in dead letters")] | None = None


# File-level controls (streamproc.datasets.controls; README "Controls"): a file with more than half of its rows
# rejected is HELD until an operator decides; one with more than 1,000 rejected rows loads, flagged (a warning in
# the ledger and its receipt); a file whose decompressed content equals one of audit records loaded before is HELD as a
# duplicate (a resent file would otherwise load twice). A sender's own limits go in `by_prefix`.
CONTROLS = ControlPolicy(
    default=Controls(budget=ErrorBudget(share=Limit(0.5, "hold"), count=Limit(1000, "warn")), duplicates=True)
)

DATASET = Dataset(
    name="audit_records",
    topic="audit.records",
    table="audit_records",
    natural_key="audit_id",
    key_prefixes=("audit_records/",),
    controls=CONTROLS,
    filename_patterns=("audit_record*.csv",),
    columns=(
        Column("audit_id", "text", True, rules.identifier(64)),
        Column("occurred_at", "timestamptz", True, rules.timestamp_with_offset),
        Column("actor_id", "text", True, rules.text(64)),
        Column("action", "text", True, rules.enum(*ACTIONS)),
        Column("resource_type", "text", True, rules.text(64)),
        Column("resource_id", "text", False, rules.text(128)),
        Column("outcome", "text", True, rules.enum(*OUTCOMES)),
        Column("source_ip", "inet", False, rules.ip_address),
        Column("details", "text", False, rules.text(2000)),
    ),
    row_type=AuditRecord,
    phi_fields=frozenset({"details"}),
    conflict="append_only",
)
