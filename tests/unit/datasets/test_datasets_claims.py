"""The pharmacy_claims dataset: a row either becomes a typed claim or yields every broken rule, never a value."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest

from streamproc.contract.events import ENCODER, FieldError, Provenance, RowEvent
from streamproc.datasets.model import Dataset
from streamproc.datasets.pharmacy_claims import DATASET, PharmacyClaim
from streamproc.topics.contract import schema_for
from tests.unit.ingest.test_parsing_volume import good_claim


def claim(**overrides: str) -> PharmacyClaim:
    result = DATASET.validate(good_claim(7, **overrides))
    assert isinstance(result, PharmacyClaim), result
    return result


def broken(**overrides: str) -> set[tuple[str, str]]:
    result = DATASET.validate(good_claim(7, **overrides))
    assert isinstance(result, tuple), result
    return {(e.field, e.rule) for e in result}


def test_a_good_row_becomes_a_typed_and_normalised_claim() -> None:
    row = claim(ndc="1234-5678-90", fill_date="20240301", claim_status="reversed", quantity="30.500")
    assert row.ndc == "01234567890"
    assert row.fill_date == date(2024, 3, 1)
    assert row.claim_status == "REVERSED"
    assert row.quantity == Decimal("30.500")
    assert (row.days_supply, row.total_paid) == (30, Decimal("11.50"))


def test_surrounding_whitespace_is_trimmed_and_an_empty_optional_field_is_none() -> None:
    row = claim(claim_id="  CLM-1 ", drug_name="   ", days_supply=" 30\t")
    assert (row.claim_id, row.drug_name, row.days_supply) == ("CLM-1", None, 30)
    values = good_claim(7)
    del values["drug_name"]
    result = DATASET.validate(values)
    assert isinstance(result, PharmacyClaim) and result.drug_name is None


def test_every_broken_field_of_a_row_is_reported_not_just_the_first() -> None:
    assert broken(
        claim_id="bad id",
        ndc="1234567890",
        quantity="0",
        days_supply="400",
        prescriber_npi="1234567890",
        copay="1.005",
        claim_status="UNKNOWN",
    ) == {
        ("claim_id", "id_charset"),
        ("ndc", "ndc_ambiguous"),
        ("quantity", "decimal_range"),
        ("days_supply", "integer_range"),
        ("prescriber_npi", "npi_check_digit"),
        ("copay", "decimal_scale"),
        ("claim_status", "enum"),
    }


def test_a_missing_or_blank_required_field_is_required() -> None:
    values = good_claim(7, rx_number="  ", pharmacy_npi="")
    del values["member_id"]
    result = DATASET.validate(values)
    assert isinstance(result, tuple)
    assert {(e.field, e.rule) for e in result} == {
        ("member_id", "required"),
        ("rx_number", "required"),
        ("pharmacy_npi", "required"),
    }


def test_lengths_exactly_at_the_limit_pass_and_one_over_fails() -> None:
    row = claim(claim_id="c" * 64, member_id="m" * 32, rx_number="r" * 20, drug_name="d" * 200)
    assert len(row.drug_name or "") == 200
    assert broken(claim_id="c" * 65, member_id="m" * 33, rx_number="r" * 21, drug_name="d" * 201) == {
        ("claim_id", "max_length"),
        ("member_id", "max_length"),
        ("rx_number", "max_length"),
        ("drug_name", "max_length"),
    }


def test_a_fill_date_of_tomorrow_passes_and_the_day_after_is_in_the_future() -> None:
    today = datetime.now(UTC).date()
    assert claim(fill_date=(today + timedelta(days=1)).isoformat()).fill_date == today + timedelta(days=1)
    assert broken(fill_date=(today + timedelta(days=2)).strftime("%Y%m%d")) == {("fill_date", "date_future")}


def test_a_negative_total_is_a_reversal_and_nothing_else() -> None:
    assert claim(total_paid="-11.50", claim_status="Reversed").total_paid == Decimal("-11.50")
    assert broken(total_paid="-11.50", claim_status="PAID") == {("total_paid", "negative_not_reversed")}
    assert broken(total_paid="-11.50", claim_status="REJECTED") == {("total_paid", "negative_not_reversed")}
    # With the status itself broken there is nothing to judge the sign against.
    assert broken(total_paid="-11.50", claim_status="VOID") == {("claim_status", "enum")}


def test_no_error_message_quotes_a_value_so_phi_cannot_leak_through_one() -> None:
    hostile = {
        "member_id": "JANE-DOE-1970-01-01-SSN-123456789",
        "claim_id": "JANE DOE",
        "fill_date": "JANE-DOE-1",
        "ndc": "JANE-DOE-2",
        "quantity": "JANE-DOE-3",
        "prescriber_npi": "JANE-DOE-4",
        "claim_status": "JANE-DOE-5",
    }
    result = DATASET.validate(good_claim(7, **hostile))
    assert isinstance(result, tuple) and len(result) == 7
    assert not any("JANE" in e.message for e in result)


def test_row_values_follow_the_column_order_for_copy() -> None:
    row = claim()
    values = DATASET.row_values(row)
    assert len(values) == len(DATASET.columns)
    assert dict(zip(DATASET.column_names, values, strict=True))["ndc"] == "12345678901"
    assert DATASET.key_of(row) == "CLM-00000007"


def test_a_row_event_round_trips_through_the_topic_decoder() -> None:
    row = claim(drug_name="")
    provenance = Provenance(bucket="b", key="k.csv", version="v1", line=2, event_time=datetime(2024, 3, 1, tzinfo=UTC))
    encoded = ENCODER.encode(DATASET.event(row, provenance))
    decoded = DATASET.event_decoder.decode(encoded)
    assert isinstance(decoded, RowEvent)
    assert decoded == RowEvent(dataset="pharmacy_claims", provenance=provenance, row=row)
    assert b'"quantity":"30.5"' in encoded  # decimals travel as strings: no float rounding


def test_the_topic_decoder_refuses_what_the_rules_refuse() -> None:
    event = msgspec.to_builtins(
        DATASET.event(claim(), Provenance(bucket="b", key="k", version="v", line=2, event_time=datetime.now(UTC)))
    )
    for field, value in [("ndc", "1234567890"), ("claim_status", "paid"), ("days_supply", 0), ("total_paid", "-1")]:
        with pytest.raises(msgspec.ValidationError):
            DATASET.event_decoder.decode(msgspec.json.encode(event | {"row": event["row"] | {field: value}}))
    with pytest.raises(msgspec.ValidationError):
        DATASET.event_decoder.decode(msgspec.json.encode(event | {"surprise": 1}))


def test_the_json_schema_of_the_topic_describes_the_row_and_its_provenance() -> None:
    schema = schema_for(DATASET)
    definitions = schema["$defs"]
    claim_schema = definitions["PharmacyClaim"]
    assert list(claim_schema["properties"]) == list(DATASET.column_names)
    assert set(claim_schema["required"]) == DATASET.required_columns
    assert claim_schema["properties"]["claim_status"]["enum"] == ["PAID", "REJECTED", "REVERSED"]
    assert claim_schema["properties"]["ndc"]["pattern"] == "^[0-9]{11}$"
    assert set(definitions["Provenance"]["required"]) == {"bucket", "key", "version", "line", "event_time"}
    assert schema["$schema"].startswith("https://json-schema.org/")


def test_an_encoded_event_is_valid_against_the_exported_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    row = claim()
    provenance = Provenance(bucket="b", key="k", version="v", line=2, event_time=datetime.now(UTC))
    jsonschema.validate(msgspec.json.decode(ENCODER.encode(DATASET.event(row, provenance))), schema_for(DATASET))


def test_a_dataset_whose_row_type_does_not_match_its_columns_is_refused_at_import() -> None:
    with pytest.raises(ValueError, match="fields differ from the columns"):
        Dataset(
            name="broken",
            topic="t",
            table="broken",
            natural_key="claim_id",
            key_prefixes=(),
            filename_patterns=(),
            columns=DATASET.columns[:3],
            row_type=PharmacyClaim,
        )


def test_field_errors_name_field_rule_and_message() -> None:
    result = DATASET.validate(good_claim(7, ndc="x"))
    assert isinstance(result, tuple)
    assert result == (FieldError(field="ndc", rule="ndc_format", message=result[0].message),)
    assert "NDC" in result[0].message
