"""Field rules of the data contract: each turns one trimmed, non-empty text value into its typed value or raises."""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from streamproc.datasets.spec import Call, Exact, Memo, Rule, Violation

__all__ = [
    "Rule", "Violation", "date_not_after_today", "decimal", "enum", "identifier", "integer", "ip_address", "ndc",
    "npi", "text", "timestamp_with_offset",
]  # fmt: skip

Sign = Literal["positive", "non_negative", "any"]

ID_PATTERN = "^[A-Za-z0-9_-]+$"
_ID_CHARS = re.compile("[A-Za-z0-9_-]+")
_DECIMAL = re.compile(r"[+-]?(?=\.?[0-9])([0-9]*)(?:\.([0-9]*))?")  # at least one digit, no exponent
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_SIGN_MESSAGES = {"positive": "must be greater than 0", "non_negative": "must not be negative"}


def _check_length(value: str, max_length: int) -> None:
    if len(value) > max_length:
        msg = f"is {len(value)} characters long, at most {max_length} allowed"
        raise Violation("max_length", msg)


def identifier(max_length: int = 64) -> Rule[str]:
    """1..max_length characters of A-Z a-z 0-9 - _ (the natural keys)."""

    def rule(value: str) -> str:
        _check_length(value, max_length)
        if _ID_CHARS.fullmatch(value) is None:
            raise Violation("id_charset", "may only hold the characters A-Z a-z 0-9 - _")
        return value

    fast = Exact(pattern=f"[A-Za-z0-9_-]{{1,{max_length}}}", lengths=(1, max_length), patterns=frozenset({ID_PATTERN}))
    return Rule(rule, fast)


def text(max_length: int) -> Rule[str]:
    """Free text of at most max_length characters; NUL is refused because PostgreSQL text cannot hold it."""

    def rule(value: str) -> str:
        _check_length(value, max_length)
        if "\x00" in value:
            raise Violation("nul_character", "holds a NUL character, which text columns cannot store")
        return value

    # Any character but NUL (refused) and the fast path's separator \x1f (left to the check).
    return Rule(rule, Exact(pattern=f"[^\\x00\\x1f]{{1,{max_length}}}", lengths=(1, max_length)))


def _digits(value: str) -> bool:
    # str.isdigit alone accepts superscripts and other scripts' digits; the contract means 0-9.
    return value.isascii() and value.isdigit()


_LUHN_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")  # digit d -> the digit sum of 2*d


def _npi(value: str) -> str:
    """A 10-digit NPI whose last digit is the Luhn check digit over 80840 + the first 9 digits."""
    if len(value) != 10 or not (value.isascii() and value.isdigit()):
        raise Violation("npi_format", "must be exactly 10 digits")
    # Positions doubled by Luhn are the 1st, 3rd, ... 9th digits; the 80840 prefix always contributes 24.
    raw = value.encode()
    if (24 + sum(raw[0:9:2].translate(_LUHN_DOUBLED)) + sum(raw[1:10:2]) - 48 * 10) % 10:
        raise Violation("npi_check_digit", "has an invalid NPI check digit")
    return value


def _luhn_part(doubled_first: bool, width: int) -> dict[str, int]:
    """Every `width`-digit string -> its Luhn contribution, doubling the 1st, 3rd, ... digit or the 2nd, 4th, ..."""
    table = {"": 0}
    for position in range(width):
        doubled = (position % 2 == 0) == doubled_first
        table = {p + d: s + (_LUHN_SUM[int(d)] if doubled else int(d)) for p, s in table.items() for d in "0123456789"}
    return table


_LUHN_SUM = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # digit d -> the digit sum of 2*d
# NPI digits 1-3, 4-6 and 7-10 (1st, 3rd, ... doubled): valid iff the three parts sum to 6 mod 10 (24 + them = 0).
_NPI_PARTS = (_luhn_part(True, 3), _luhn_part(False, 3), _luhn_part(True, 4))


def npi_check_digit_ok(value: str) -> bool:
    """The fast path's NPI check (value already 10 ASCII digits): three table look-ups instead of a loop."""
    first, second, third = _NPI_PARTS
    return (first[value[:3]] + second[value[3:6]] + third[value[6:]]) % 10 == 6


npi = Rule(
    _npi, Exact(pattern="[0-9]{10}", accept=npi_check_digit_ok, lengths=(10, 10), patterns=frozenset({"^[0-9]{10}$"}))
)


_NDC_HYPHENATED = re.compile("([0-9]{4,5})-([0-9]{3,4})-([0-9]{1,2})")
_NDC_FORMAT = "must be an NDC of 11 digits or hyphenated 4-4-2, 5-3-2 or 5-4-1 (or 5-4-2)"


def _ndc(value: str) -> str:
    """An NDC normalised to 11 digits (5-4-2); a bare 10-digit code could be any of three layouts."""
    if _digits(value):
        if len(value) == 11:
            return value
        if len(value) == 10:
            raise Violation("ndc_ambiguous", "a bare 10-digit NDC is ambiguous; hyphenate it or give 11 digits")
        raise Violation("ndc_format", _NDC_FORMAT)
    match = _NDC_HYPHENATED.fullmatch(value)
    # Within these part sizes only 5-4-2 has 11 digits and only 4-4-2, 5-3-2, 5-4-1 have 10; pad the short part.
    if match is None or len(value) < 12:
        raise Violation("ndc_format", _NDC_FORMAT)
    labeler, product, package = match.groups()
    return (
        ("0" if len(labeler) == 4 else "")
        + labeler
        + ("0" if len(product) == 3 else "")
        + product
        + ("0" if len(package) == 1 else "")
        + package
    )


def _dehyphenate_542(value: str) -> str:
    """The common hyphenated form 5-4-2 without its hyphens; any other text as it is."""
    if len(value) == 13 and value[5] == "-" and value[10] == "-":
        return value[:5] + value[6:10] + value[11:]
    return value


ndc = Rule(
    _ndc, Exact(pattern="[0-9]{11}", prepare=_dehyphenate_542, lengths=(11, 11), patterns=frozenset({"^[0-9]{11}$"}))
)


def _parse_date(value: str) -> date | None:
    size = len(value)
    # fromisoformat alone would also take week dates (2024-W01-1) and other ISO forms the contract does not name.
    if not value.isascii() or not ((size == 10 and value[4] == value[7] == "-") or (size == 8 and value.isdigit())):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def date_not_after_today(days_ahead: int = 1, clock: Callable[[], float] = time.time) -> Rule[date]:
    """A date as YYYY-MM-DD or YYYYMMDD, no later than today (UTC) + days_ahead; clock gives epoch seconds."""
    cached_day = -1
    cached_latest = date.min
    parsed_dates: dict[str, date | None] = {}  # files repeat the same few dates; parse each once

    def latest() -> date:
        nonlocal cached_day, cached_latest
        day = int(clock() // 86400)
        if day != cached_day:  # computed once per UTC day, not once per row
            cached_day = day
            cached_latest = date.fromordinal(_EPOCH_ORDINAL + day) + timedelta(days=days_ahead)
        return cached_latest

    def rule(value: str) -> date:
        parsed = parsed_dates.get(value)
        if parsed is None and value not in parsed_dates:
            if len(parsed_dates) >= 4096:
                parsed_dates.clear()
            parsed = parsed_dates[value] = _parse_date(value)
        if parsed is None:
            raise Violation("date_format", "must be a calendar date as YYYY-MM-DD or YYYYMMDD")
        if parsed > latest():
            raise Violation("date_future", f"is later than today (UTC) + {days_ahead} day(s)")
        return parsed

    # Caching a date's verdict is safe: a date valid once stays valid as today moves on, and a miss or a
    # cached refusal only sends the row to this check.
    return Rule(rule, Memo())


def _canonical_decimal(whole_digits: int, scale: int, sign: Sign) -> str:
    """The decimals whose text is exactly how their value encodes: no sign, no leading zero, <= scale places."""
    fraction = f"(?:\\.[0-9]{{1,{scale}}})?" if scale else ""
    if sign == "positive":
        small = f"|0\\.(?=[0-9]{{0,{scale - 1}}}[1-9])[0-9]{{1,{scale}}}" if scale else ""
        return f"(?:[1-9][0-9]{{0,{whole_digits - 1}}}{fraction}{small})"
    return f"(?:(?:0|[1-9][0-9]{{0,{whole_digits - 1}}}){fraction})"  # negatives take the check's path


def decimal(scale: int, precision: int, sign: Sign) -> Rule[Decimal]:
    """A plain decimal number (no exponent) with at most `scale` places that fits numeric(precision, scale).

    Trailing zeros beyond the scale carry no value and are dropped (1.500 is 1.50), so nothing is rounded.
    """
    whole_digits = precision - scale
    # The common case (unsigned, in range, in scale) in one regex; anything else takes the detailed path.
    plain = re.compile(f"[+]?(?=\\.?[0-9])[0-9]{{0,{whole_digits}}}(?:\\.[0-9]{{0,{scale}}})?")

    def rule(value: str) -> Decimal:
        if plain.fullmatch(value) is not None:
            number = Decimal(value)
            if number or sign != "positive":
                return number
        return detailed(value)

    def detailed(value: str) -> Decimal:
        match = _DECIMAL.fullmatch(value)
        if match is None:
            raise Violation("decimal_format", "must be a plain decimal number such as 12.34")
        whole, fraction = match.groups()
        if fraction is not None and len(fraction) > scale:
            if fraction[scale:].strip("0"):
                raise Violation("decimal_scale", f"has more than {scale} decimal places")
            value = value[: len(value) - len(fraction) + scale]
        if len(whole) > whole_digits and len(whole.lstrip("0")) > whole_digits:
            raise Violation("decimal_precision", f"has more than {whole_digits} digits before the decimal point")
        number = Decimal(value)
        if not number:
            if sign == "positive":
                raise Violation("decimal_range", _SIGN_MESSAGES[sign])
            return number.copy_abs()  # -0.00 is 0.00
        if sign != "any" and value[0] == "-":
            raise Violation("decimal_range", _SIGN_MESSAGES[sign])
        return number

    return Rule(rule, Exact(pattern=_canonical_decimal(whole_digits, scale, sign), typed=Decimal))


def integer(low: int, high: int) -> Rule[int]:
    """A whole number from low to high, written in ASCII digits with an optional sign."""
    message = f"must be a whole number from {low} to {high}"

    def rule(value: str) -> int:
        digits = value[1:] if value[0] in "+-" else value
        if not _digits(digits):
            raise Violation("integer_format", message)
        # Bounded before int(): a huge digit string is out of range, and int() of one is slow or refused.
        number = int(value) if len(digits.lstrip("0")) <= 18 else high + 1
        if not low <= number <= high:
            raise Violation("integer_range", message)
        return number

    return Rule(rule, Memo())


def enum(*allowed: str) -> Rule[str]:
    """One of the allowed upper-case words, matched case-insensitively, returned upper-case."""
    choices = frozenset(allowed)
    message = f"must be one of {', '.join(allowed)} (any case)"

    def rule(value: str) -> str:
        upper = value.upper()
        # isascii: some non-ASCII letters upper-case to ASCII ones (dotless i to I), so they must not match.
        if upper not in choices or not value.isascii():
            raise Violation("enum", message)
        return upper

    return Rule(rule, Memo())


def _ip_address(value: str) -> str:
    """An IPv4 or IPv6 address (no prefix length, no zone), in its canonical text form."""
    if value.isascii() and "%" not in value and "/" not in value:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            pass
    raise Violation("ip", "must be an IPv4 or IPv6 address")


ip_address = Rule(_ip_address, Memo())


def _parse_timestamp(value: str) -> datetime | None:
    if not value.isascii() or not any(sep in value for sep in "Tt "):
        return None  # a date alone is not a timestamp
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _timestamp_with_offset(value: str) -> datetime:
    """An ISO 8601 date and time with a UTC offset or Z; a naive timestamp is ambiguous and refused."""
    parsed = _parse_timestamp(value)
    if parsed is None:
        raise Violation("timestamp_format", "must be an ISO 8601 date and time with a UTC offset or Z")
    if parsed.tzinfo is None:
        raise Violation("timestamp_offset", "has no UTC offset or Z; a naive timestamp is ambiguous")
    return parsed


timestamp_with_offset = Rule(_timestamp_with_offset, Call())
