"""Reading the control totals a sender declares: a trailer line or a `<key>.manifest.json` (untrusted input)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from streamproc.datasets.controls import Declared, TrailerLayout

MANIFEST_SUFFIX = ".manifest.json"
MAX_MANIFEST_BYTES = 64 * 1024  # a manifest is a few hundred bytes; anything this large is not one
MAX_ROW_COUNT = 10**12
_SHA256 = re.compile("[0-9a-fA-F]{64}")
_INTEGER = re.compile("[0-9]+")
_DECODER = msgspec.json.Decoder(float_hook=Decimal)  # a sum is read exactly, never through a float


class DeclaredInvalid(ValueError):
    """Control totals that cannot be read; `reason` names the field and the problem, never its value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def manifest_key(data_key: str) -> str:
    return data_key + MANIFEST_SUFFIX


def data_key_of(manifest: str) -> str | None:
    """The data file a manifest key describes, or None if the key is not a manifest's."""
    return manifest.removesuffix(MANIFEST_SUFFIX) if manifest.endswith(MANIFEST_SUFFIX) else None


def parse_manifest(data: bytes, scales: Mapping[str, int]) -> Declared:
    """A manifest `{"row_count": N, "sums": {"column": "12.50"}, "sha256": "<64 hex>"}`; `scales` are the summed
    columns of the dataset with their decimal places. Raises DeclaredInvalid with the reason."""
    if len(data) > MAX_MANIFEST_BYTES:
        msg = f"manifest is {len(data)} bytes, more than the {MAX_MANIFEST_BYTES} a manifest may have"
        raise DeclaredInvalid(msg)
    try:
        doc = _DECODER.decode(data)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        msg = "manifest is not JSON"
        raise DeclaredInvalid(msg) from None
    if not isinstance(doc, dict):
        msg = "manifest is not a JSON object"
        raise DeclaredInvalid(msg)
    if "row_count" not in doc:
        msg = "manifest has no row_count"
        raise DeclaredInvalid(msg)
    count = _count(doc["row_count"], "manifest row_count")
    raw_sums = doc.get("sums", {})
    if not isinstance(raw_sums, dict):
        msg = "manifest sums is not an object of column: total"
        raise DeclaredInvalid(msg)
    if unknown := sorted(set(raw_sums) - set(scales)):
        msg = f"manifest sums {len(unknown)} column(s) the dataset does not sum: {', '.join(map(_name, unknown))}"
        raise DeclaredInvalid(msg)
    sums = {column: _sum(value, column, scales[column], "manifest") for column, value in raw_sums.items()}
    sha = doc.get("sha256")
    if sha is not None and not (isinstance(sha, str) and _SHA256.fullmatch(sha)):
        size = f"{len(sha)} characters" if isinstance(sha, str) else f"a JSON {type(sha).__name__}"
        msg = f"manifest sha256 is not 64 hexadecimal digits ({size})"
        raise DeclaredInvalid(msg)
    return Declared(source="manifest", row_count=count, sums=sums, sha256=sha.lower() if sha else None)


def is_trailer(first_field: str, layout: TrailerLayout) -> bool:
    return first_field.strip() == layout.tag


def parse_trailer(fields: Sequence[str], layout: TrailerLayout, scales: Mapping[str, int]) -> Declared:
    """`<tag>,<row count>,<sum>...` in the order of `layout.sums`. Raises DeclaredInvalid with the reason."""
    want = 2 + len(layout.sums)
    if len(fields) != want:
        msg = f"trailer has {len(fields)} fields, expected {want} (tag, row count, {len(layout.sums)} sum(s))"
        raise DeclaredInvalid(msg)
    text = fields[1].strip()
    if not _INTEGER.fullmatch(text):
        msg = "trailer row count is not a whole number >= 0"
        raise DeclaredInvalid(msg)
    count = _count(int(text), "trailer row count")
    sums = {c: _sum(v.strip(), c, scales[c], "trailer") for c, v in zip(layout.sums, fields[2:], strict=True)}
    return Declared(source="trailer", row_count=count, sums=sums)


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{what} is not a whole number"
        raise DeclaredInvalid(msg)
    if not 0 <= value <= MAX_ROW_COUNT:
        msg = f"{what} is {'negative' if value < 0 else 'implausibly large'}"
        raise DeclaredInvalid(msg)
    return value


def _sum(value: Any, column: str, scale: int, source: str) -> Decimal:
    what = f"{source} sum of {_name(column)}"
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        msg = f"{what} is not a number"
        raise DeclaredInvalid(msg)
    try:
        number = Decimal(value)
    except InvalidOperation:
        msg = f"{what} is not a number"
        raise DeclaredInvalid(msg) from None
    if not number.is_finite():
        msg = f"{what} is not a finite number"
        raise DeclaredInvalid(msg)
    places = -int(number.as_tuple().exponent)
    if places > scale:
        msg = f"{what} has {places} decimal places; the column has {scale} (a total in another scale?)"
        raise DeclaredInvalid(msg)
    return number


def _name(column: str) -> str:
    """A column name from the sender's file, shown escaped and cut short (it is untrusted text)."""
    shown = column if len(column) <= 64 else column[:64] + "..."
    return ascii(shown)
