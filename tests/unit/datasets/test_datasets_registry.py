"""Which dataset claims a file (key prefix, then file name, then header), and adding one as a single module."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from streamproc.datasets.registry import Registry, load_registry
from streamproc.ingest.parsing import CsvFileParser, ValidRow
from tests.datasets import vaccinations
from tests.unit.ingest.test_parsing_volume import CLAIM_COLUMNS

AUDIT_COLUMNS = ["audit_id", "occurred_at", "actor_id", "action", "resource_type", "outcome"]
REGISTRY = load_registry()


def recognised(key: str, header: list[str] | None = None) -> str | None:
    dataset = REGISTRY.recognise(key, header)
    return dataset.name if dataset else None


def test_the_package_holds_exactly_the_two_contract_datasets() -> None:
    assert [d.name for d in REGISTRY] == ["audit_records", "pharmacy_claims"]
    assert len(REGISTRY) == 2
    assert REGISTRY.by_name("pharmacy_claims").topic == "claims.pharmacy"
    assert REGISTRY.by_topic("audit.records").name == "audit_records"
    with pytest.raises(KeyError):
        REGISTRY.by_name("vaccinations")  # test-only datasets are never discovered


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("pharmacy_claims/2024/03/batch.csv", "pharmacy_claims"),
        ("audit_records/export.csv.gz", "audit_records"),
        ("Pharmacy_Claims/upper.csv", "pharmacy_claims"),
        ("pharmacy_claim.csv", "pharmacy_claims"),  # the seed's example: at the bucket root
        ("drop/pharmacy_claims_2024-03.csv", "pharmacy_claims"),
        ("PHARMACY_CLAIM.CSV", "pharmacy_claims"),
        ("pharmacy_claim.csv.gz", "pharmacy_claims"),
        ("audit_record.csv", "audit_records"),
        ("x/audit_records-march.csv.gz", "audit_records"),
    ],
)
def test_a_file_is_recognised_by_its_key_prefix_or_its_name(key: str, name: str) -> None:
    assert recognised(key) == name


def test_the_key_prefix_beats_the_file_name() -> None:
    assert recognised("audit_records/pharmacy_claim.csv", CLAIM_COLUMNS) == "audit_records"


def test_the_file_name_beats_the_header() -> None:
    assert recognised("drop/pharmacy_claim_1.csv", AUDIT_COLUMNS) == "pharmacy_claims"


def test_the_header_decides_when_key_and_name_say_nothing() -> None:
    assert recognised("drop/export.csv", CLAIM_COLUMNS) == "pharmacy_claims"
    assert recognised("drop/export.csv", [" AUDIT_ID ", *AUDIT_COLUMNS[1:], "extra"]) == "audit_records"


def test_a_header_that_fits_no_dataset_or_several_recognises_nothing() -> None:
    assert recognised("drop/export.csv", CLAIM_COLUMNS[:-1]) is None  # claim_status missing
    assert recognised("drop/export.csv", CLAIM_COLUMNS + AUDIT_COLUMNS) is None  # ambiguous
    assert recognised("drop/export.csv", None) is None
    assert recognised("drop/export.csv", []) is None


@pytest.mark.parametrize("key", ["claims.csv", "pharmacy.csv", "data/pharmacy-claim.csv", "pharmacy_claims.txt"])
def test_an_unrelated_key_is_not_recognised(key: str) -> None:
    assert recognised(key) is None


def test_a_test_only_dataset_is_one_module_loaded_by_name() -> None:
    registry = load_registry(["tests.datasets.vaccinations"])
    dataset = registry.by_name("vaccinations")
    assert dataset is vaccinations.DATASET
    assert [d.name for d in registry] == ["audit_records", "pharmacy_claims", "vaccinations"]
    assert registry.recognise("vaccinations/2024/jan.csv", None) is dataset
    assert registry.recognise("Vaccination_records.csv.gz", None) is dataset
    assert registry.recognise("drop/file.csv", list(dataset.column_names)) is dataset
    assert registry.by_topic(dataset.topic) is dataset


def test_a_test_only_dataset_validates_and_parses_like_the_real_ones() -> None:
    registry = load_registry(["tests.datasets.vaccinations"])
    header = ",".join(vaccinations.DATASET.column_names)
    parser = CsvFileParser(registry, "vaccinations/v1.csv", gzip=False)
    rows = parser.feed(f"{header}\n{vaccinations.SAMPLE_ROW}\nVAX-2,PAT-1,208,2999-01-01,11,ear,\n".encode())
    rows += parser.close()
    first, second = rows
    assert isinstance(first, ValidRow)
    assert registry.by_name("vaccinations").row_decoder.decode(first.row_json) == vaccinations.Vaccination(
        vaccination_id="VAX-0001",
        patient_id="PAT-42",
        vaccine_code="208",
        administered_on=date(2024, 3, 1),
        dose_number=2,
        site="LEFT_ARM",
        lot_number="EW0150",
    )
    assert not isinstance(second, ValidRow)
    assert {(e.field, e.rule) for e in second.errors} == {
        ("administered_on", "date_future"),
        ("dose_number", "integer_range"),
        ("site", "enum"),
    }
    assert second.raw_masked == "VAX-2,***,208,2999-01-01,11,ear,"  # patient_id is PHI


def test_an_extra_module_without_a_dataset_is_an_error() -> None:
    with pytest.raises(ValueError, match="defines no module-level DATASET"):
        load_registry(["tests.unit.datasets.test_datasets_registry"])


def test_two_datasets_may_not_share_a_name_topic_or_table() -> None:
    claims = REGISTRY.by_name("pharmacy_claims")
    with pytest.raises(ValueError, match="share a name"):
        Registry([claims, claims])


def test_a_badly_declared_dataset_fails_when_its_module_is_imported() -> None:
    claims = REGISTRY.by_name("pharmacy_claims")
    with pytest.raises(ValueError, match="not a required column"):
        dataclasses.replace(claims, natural_key="drug_name")
    with pytest.raises(ValueError, match="are not columns"):
        dataclasses.replace(claims, phi_fields=frozenset({"ssn"}))
    with pytest.raises(ValueError, match="not a lower-case identifier"):
        dataclasses.replace(claims, columns=(dataclasses.replace(claims.columns[0], name="Claim ID"),))
