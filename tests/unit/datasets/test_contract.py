"""Contracts (pure): a header's drift against a version, and the changes from one version to the next."""

from __future__ import annotations

import pytest

from streamproc.datasets import samples
from streamproc.datasets.contract import (
    LISTED,
    SHOWN,
    Change,
    Contract,
    ContractColumn,
    Drift,
    Version,
    compare,
    drift,
    first_version,
)
from streamproc.datasets.registry import load_registry

V1 = Version(
    1,
    (
        ContractColumn("claim_id", "text", required=True),
        ContractColumn("member_id", "text", required=True, phi=True, aliases=("Member ID", "mbr_id")),
        ContractColumn("total_paid", "numeric(12,2)", required=False),
    ),
)


def test_the_contracts_own_header_has_no_drift_whatever_its_spacing_and_case() -> None:
    assert drift([" Claim_ID", "MEMBER_ID ", "total_paid"], V1).none


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(["claim_id", "member_id", "total_paid", "plan"], Drift(added=("plan",)), id="added"),
        pytest.param(["claim_id", "member_id"], Drift(missing=("total_paid",)), id="missing-optional"),
        pytest.param(
            ["claim_id", "total_paid"], Drift(missing=("member_id",), missing_required=("member_id",)), id="missing"
        ),
        pytest.param(["claim_id", "Member ID", "total_paid"], Drift(renamed=(("member id", "member_id"),)), id="alias"),
        pytest.param(["member_id", "claim_id", "total_paid"], Drift(reordered=True), id="reordered"),
        pytest.param(
            ["claim_id", "member_id", "mbr_id", "total_paid"],
            Drift(renamed=(("mbr_id", "member_id"),), repeated=("member_id",)),
            id="a-name-and-its-alias",
        ),
        pytest.param(["claim_id", "claim_id", "member_id", "total_paid"], Drift(repeated=("claim_id",)), id="twice"),
        pytest.param(
            ["total_paid", "mbr_id", "claim_id", "extra"],
            Drift(added=("extra",), renamed=(("mbr_id", "member_id"),), reordered=True),
            id="several",
        ),
    ],
)
def test_each_kind_of_drift_is_named_by_column(header: list[str], expected: Drift) -> None:
    assert drift(header, V1) == expected


def test_a_hostile_header_is_reported_by_escaped_and_shortened_names_and_a_count_past_the_list() -> None:
    header = ["claim_id", "member_id", "\x1b[31mred\x07", "x" * 1_000_000, *(f"c{i}" for i in range(10_000))]
    found = drift(header, V1)
    assert found.added[0] == "\\x1b[31mred\\x07"  # no escape sequence reaches a log or a terminal
    assert len(found.added[1]) == SHOWN and found.added[1].endswith("…")
    assert len(found.added) == LISTED and found.added_unlisted == 10_002 - LISTED
    assert found.missing == ("total_paid",) and not found.missing_required


def _version(number: int, *columns: ContractColumn) -> Version:
    return Version(number, columns)


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        pytest.param(
            (*V1.columns, ContractColumn("plan", "text", required=False)),
            (Change("plan", "added", breaking=False, detail="text"),),
            id="optional-added",
        ),
        pytest.param(
            (*V1.columns, ContractColumn("plan", "text", required=True)),
            (Change("plan", "added", breaking=True, detail="text"),),
            id="required-added",
        ),
        pytest.param(V1.columns[:2], (Change("total_paid", "removed", breaking=True),), id="removed"),
        pytest.param(
            (*V1.columns[:2], ContractColumn("total_paid", "numeric(12,3)", required=False)),
            (Change("total_paid", "retyped", breaking=True, detail="numeric(12,2) -> numeric(12,3)"),),
            id="retyped",
        ),
        pytest.param(
            (*V1.columns[:2], ContractColumn("total_paid", "numeric(12,2)", required=True)),
            (Change("total_paid", "now required", breaking=True),),
            id="made-required",
        ),
        pytest.param(
            (V1.columns[0], ContractColumn("member_id", "text", required=False, phi=True), V1.columns[2]),
            (Change("member_id", "now optional", breaking=False),),
            id="made-optional",
        ),
        pytest.param(
            (V1.columns[0], ContractColumn("member_id", "text", required=True), V1.columns[2]),
            (Change("member_id", "no longer PHI", breaking=True),),
            id="phi-dropped",
        ),
        pytest.param(
            (*V1.columns[:2], ContractColumn("amount_paid", "numeric(14,2)", required=False)),
            (
                Change("total_paid", "removed", breaking=True),
                Change("amount_paid", "added", breaking=False, detail="numeric(14,2)"),
            ),
            id="renamed-and-retyped",
        ),
        pytest.param(
            (
                V1.columns[0],
                ContractColumn("member_id", "text", required=True, phi=True, aliases=("mbr",)),
                V1.columns[2],
            ),
            (),
            id="aliases-only",
        ),
    ],
)
def test_each_change_between_versions_is_compatible_or_breaking(
    new: tuple[ContractColumn, ...], expected: tuple[Change, ...]
) -> None:
    assert compare(V1, _version(2, *new)) == expected


def test_a_contracts_history_says_what_each_version_changed() -> None:
    v2 = _version(2, *V1.columns, ContractColumn("plan", "text", required=False))
    v3 = _version(3, *v2.columns[:3])
    contract = Contract("claims", (V1, v2, v3))
    assert contract.current is v3
    assert [c.kind for c in contract.changes(1)] == ["added"] * 3
    assert (contract.breaking(2), contract.breaking(3)) == (False, True)


@pytest.mark.parametrize(
    ("history", "problem"),
    [
        pytest.param((V1, _version(3, *V1.columns)), "not numbered 1, 2", id="gap"),
        pytest.param(
            (_version(1, *V1.columns, ContractColumn("claim_id", "text", required=False)),), "repeat", id="dup"
        ),
        pytest.param((_version(1, ContractColumn("Claim ID", "text", required=True)),), "identifier", id="name"),
        pytest.param(
            (_version(1, *V1.columns[:2], ContractColumn("total_paid", "text", required=False, aliases=("MBR_ID",))),),
            "alias 'mbr_id' of 'total_paid' is already a column or another alias",
            id="alias-collides-with-alias",
        ),
        pytest.param(
            (_version(1, V1.columns[0], ContractColumn("member_id", "text", required=True, aliases=(" claim_id",))),),
            "alias 'claim_id' of 'member_id'",
            id="alias-collides-with-column",
        ),
    ],
)
def test_a_contract_that_cannot_be_read_one_way_is_refused_when_declared(
    history: tuple[Version, ...], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Contract("claims", history)


@pytest.mark.parametrize("name", ["pharmacy_claims", "audit_records"])
def test_a_seed_datasets_first_version_is_its_columns_and_its_sample_files_do_not_drift(name: str) -> None:
    dataset = load_registry(()).by_name(name)
    version = first_version(dataset.columns, dataset.phi_fields)
    contract = Contract(name, (version,))
    assert [c.name for c in contract.current.columns] == list(dataset.column_names)
    assert {c.name for c in version.columns if c.phi} == dataset.phi_fields
    assert {c.name for c in version.columns if c.required} == dataset.required_columns
    assert drift(samples.header(name), version).none
