"""Field rules for identifiers, free text, NPIs and NDCs: what passes, what it becomes, and which rule breaks."""

from __future__ import annotations

import pytest

from streamproc.datasets import rules
from streamproc.datasets.rules import Rule, Violation


def fullwidth(text: str) -> str:
    """The same characters from the Unicode full-width block: digits and letters to str.isdigit/isalpha."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


def broken_rule(rule: Rule[object], value: str) -> str:
    with pytest.raises(Violation) as caught:
        rule(value)
    assert value not in caught.value.message or len(value) < 3  # messages never quote the value
    return caught.value.rule


def reference_npi_check_digit(first_nine: str) -> int:
    """Luhn, written out the textbook way: double every second digit from the right of 80840 + 9 digits + check."""
    digits = [int(c) for c in "80840" + first_nine]
    total = 0
    for position, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if position % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return (10 - total % 10) % 10


@pytest.mark.parametrize("value", ["A", "claim-001_X", "a" * 64, "0123456789"])
def test_an_identifier_of_letters_digits_hyphens_and_underscores_passes(value: str) -> None:
    assert rules.identifier(64)(value) == value


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("a" * 65, "max_length"),
        ("claim 1", "id_charset"),
        ("claim.1", "id_charset"),
        ("clàim", "id_charset"),
        ("claim\x00", "id_charset"),
        (fullwidth("claim"), "id_charset"),
    ],
)
def test_an_identifier_too_long_or_with_other_characters_is_refused(value: str, rule: str) -> None:
    assert broken_rule(rules.identifier(64), value) == rule


def test_text_is_measured_in_characters_up_to_its_limit() -> None:
    rule = rules.text(32)
    assert rule("x" * 32) == "x" * 32
    assert rule("é" * 32) == "é" * 32  # 64 bytes, 32 characters
    assert broken_rule(rule, "x" * 33) == "max_length"


def test_text_holding_a_nul_character_is_refused_because_postgres_cannot_store_it() -> None:
    assert broken_rule(rules.text(200), "Amox\x00icillin") == "nul_character"


@pytest.mark.parametrize("value", ["1234567893", "1245319599", "1679576722"])
def test_known_valid_npis_pass(value: str) -> None:
    assert rules.npi(value) == value


def test_exactly_one_check_digit_makes_an_npi_valid() -> None:
    valid = [d for d in "0123456789" if _npi_ok("123456789" + d)]
    assert valid == ["3"]


def test_the_npi_check_digit_agrees_with_a_textbook_luhn_on_many_numbers() -> None:
    for i in range(2_000):
        body = f"{i * 2_654_435_761 % 10**9:09d}"  # spread over the whole range, the same every run
        expected = reference_npi_check_digit(body)
        for digit in range(10):
            assert _npi_ok(f"{body}{digit}") is (digit == expected), body


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("1234567890", "npi_check_digit"),
        ("1234567894", "npi_check_digit"),
        ("123456789", "npi_format"),
        ("12345678931", "npi_format"),
        ("12345678a3", "npi_format"),
        ("123456789-3", "npi_format"),
        (fullwidth("1234567893"), "npi_format"),  # digits to str.isdigit, not to the contract
        ("12345678²3", "npi_format"),
    ],
)
def test_an_npi_with_a_wrong_check_digit_or_shape_is_refused(value: str, rule: str) -> None:
    assert broken_rule(rules.npi, value) == rule


def _npi_ok(value: str) -> bool:
    try:
        rules.npi(value)
    except Violation:
        return False
    return True


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("12345678901", "12345678901"),
        ("12345-6789-01", "12345678901"),  # 5-4-2 hyphenated is already 11 digits
        ("1234-5678-90", "01234567890"),  # 4-4-2: pad the labeler
        ("12345-678-90", "12345067890"),  # 5-3-2: pad the product
        ("12345-6789-0", "12345678900"),  # 5-4-1: pad the package
        ("00000-0000-00", "00000000000"),
    ],
)
def test_an_ndc_in_each_accepted_layout_is_normalised_to_11_digits(value: str, normalised: str) -> None:
    assert rules.ndc(value) == normalised


def test_a_bare_10_digit_ndc_is_ambiguous_and_refused() -> None:
    assert broken_rule(rules.ndc, "1234567890") == "ndc_ambiguous"


@pytest.mark.parametrize(
    "value",
    [
        "123456789012",
        "123456789",
        "1234-567-89",
        "123-45678-90",
        "12345-67890-1",
        "1234-5678-9",
        "12345-6789-012",
        "12345 6789 01",
        "12345-6789-0a",
        "1234567890a",
        "--",
        "12345--678901",
        fullwidth("12345678901"),
    ],
)
def test_an_ndc_in_any_other_shape_is_refused(value: str) -> None:
    assert broken_rule(rules.ndc, value) == "ndc_format"
