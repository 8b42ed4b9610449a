"""The audit_records dataset: aware timestamps, actions and outcomes in any case, IPs, bounded free text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streamproc.datasets.audit_records import DATASET, AuditRecord
from streamproc.topics.contract import schema_for


def good_audit(**overrides: str) -> dict[str, str]:
    return {
        "audit_id": "AUD-1",
        "occurred_at": "2024-03-01T12:00:00Z",
        "actor_id": "user@example.org",
        "action": "read",
        "resource_type": "Patient",
        "resource_id": "Patient/42",
        "outcome": "Success",
        "source_ip": "10.1.2.3",
        "details": "opened chart",
    } | overrides


def record(**overrides: str) -> AuditRecord:
    result = DATASET.validate(good_audit(**overrides))
    assert isinstance(result, AuditRecord), result
    return result


def broken(**overrides: str) -> set[tuple[str, str]]:
    result = DATASET.validate(good_audit(**overrides))
    assert isinstance(result, tuple), result
    return {(e.field, e.rule) for e in result}


def test_a_good_audit_row_becomes_a_typed_record_with_upper_case_enums() -> None:
    row = record(occurred_at="2024-03-01T07:00:00-05:00")
    assert row.occurred_at == datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert row.occurred_at.utcoffset() == timedelta(hours=-5)  # the source offset is kept
    assert (row.action, row.outcome, row.source_ip) == ("READ", "SUCCESS", "10.1.2.3")


@pytest.mark.parametrize("action", ["CREATE", "read", "Update", "delete", "LOGIN", "logout", "Export"])
def test_every_action_of_the_contract_passes_in_any_case(action: str) -> None:
    assert record(action=action).action == action.upper()


def test_optional_fields_may_be_empty_or_absent() -> None:
    row = record(resource_id="", source_ip=" ", details="")
    assert (row.resource_id, row.source_ip, row.details) == (None, None, None)
    values = good_audit()
    for name in ("resource_id", "source_ip", "details"):
        del values[name]
    assert isinstance(DATASET.validate(values), AuditRecord)


def test_an_ipv6_source_address_passes() -> None:
    assert record(source_ip="2001:DB8::7").source_ip == "2001:db8::7"


def test_a_naive_timestamp_is_refused() -> None:
    assert broken(occurred_at="2024-03-01T12:00:00") == {("occurred_at", "timestamp_offset")}


def test_every_broken_field_is_reported() -> None:
    assert broken(
        audit_id="a/b",
        occurred_at="yesterday",
        actor_id="a" * 65,
        action="PURGE",
        resource_type="",
        resource_id="r" * 129,
        outcome="MAYBE",
        source_ip="999.1.1.1",
        details="d" * 2001,
    ) == {
        ("audit_id", "id_charset"),
        ("occurred_at", "timestamp_format"),
        ("actor_id", "max_length"),
        ("action", "enum"),
        ("resource_type", "required"),
        ("resource_id", "max_length"),
        ("outcome", "enum"),
        ("source_ip", "ip"),
        ("details", "max_length"),
    }


def test_lengths_exactly_at_the_limit_pass() -> None:
    row = record(actor_id="a" * 64, resource_type="t" * 64, resource_id="r" * 128, details="d" * 2000)
    assert len(row.details or "") == 2000


def test_audits_are_append_only_and_details_are_phi() -> None:
    assert DATASET.conflict == "append_only"
    assert DATASET.phi_fields == frozenset({"details"})
    assert (DATASET.topic, DATASET.table, DATASET.natural_key) == ("audit.records", "audit_records", "audit_id")


def test_the_schema_says_occurred_at_is_a_date_time() -> None:
    properties = schema_for(DATASET)["$defs"]["AuditRecord"]["properties"]
    assert properties["occurred_at"]["format"] == "date-time"
    assert properties["details"]["anyOf"][0]["maxLength"] == 2000
