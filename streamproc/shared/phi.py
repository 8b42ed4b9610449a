"""PHI masking (pure): what may be shown of a CSV row, a decoded row or a body that could not be parsed.

- a CSV row shows its fields, with PHI-bearing (and unknown) columns replaced by `***`;
- a row shows its fields, with the dataset's PHI fields replaced by `***`;
- a body that could not be parsed at all is never shown verbatim: only its length, a SHA-256 digest and a
  short prefix with every letter and digit masked;
- what is kept stays under RAW_LIMIT characters.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

MASK = "***"
RAW_LIMIT = 16_384  # characters of a raw row kept in a dead letter
UNMAPPED_ROW = "*** row withheld: its fields could not be mapped to the header ***"
PREFIX_CHARS = 64  # how much of an unparsed body's shape a dead letter shows
_LETTERS_AND_DIGITS = re.compile(r"[^\W_]", re.UNICODE)


def cut(raw: str, limit: int = RAW_LIMIT) -> str:
    """`raw` cut to `limit` characters, saying how much was dropped."""
    if len(raw) <= limit:
        return raw
    return f"{raw[:limit]}... [{len(raw) - limit} more characters]"


def masked_csv(fields: Iterable[str], masked: Collection[int]) -> str:
    """A CSV record re-serialised with the fields at `masked` positions replaced by ***, cut at RAW_LIMIT."""
    buffer = io.StringIO()
    # The writer quotes only what holds its delimiter, quote or line terminator: so "\n", then drop it.
    csv.writer(buffer, lineterminator="\n").writerow(MASK if i in masked else v for i, v in enumerate(fields))
    raw = cut(buffer.getvalue()[:-1])
    return raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")  # undecodable bytes as U+FFFD


def masked_row(row: Mapping[str, Any], phi_fields: Collection[str]) -> dict[str, Any]:
    """A decoded row with its PHI fields replaced by *** (None stays None: absence is not PHI)."""
    return {k: (MASK if k in phi_fields and v is not None else v) for k, v in row.items()}


def fingerprint(body: bytes | str) -> str:
    """What a dead letter says of a body it cannot parse: length, digest and a masked prefix, never the body."""
    data = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body
    text = data[: PREFIX_CHARS * 4].decode("utf-8", "replace")[:PREFIX_CHARS]
    shape = _LETTERS_AND_DIGITS.sub("x", text)
    return f"unparsed body withheld: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}, shape {shape!r}"
