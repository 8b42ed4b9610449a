"""What a file's control pass learns besides its rows: the content's SHA-256, sums of the summed columns, and
its trailer (which is not a row). Fed by the parser; nothing here is published."""

from __future__ import annotations

import hashlib
from _hashlib import HASH
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation

from streamproc.datasets.controls import Controls, Declared, FileFacts, Finding, TrailerLayout
from streamproc.datasets.declared import DeclaredInvalid, is_trailer, parse_trailer
from streamproc.datasets.model import Dataset


class Tally:
    """One file's running totals under `controls`; `scales` gives each summed column's decimal places."""

    def __init__(self, controls: Controls, scales: Mapping[str, int], *, content: HASH | None = None) -> None:
        """`content`: the SHA-256 of the bytes read so far (the parser's, begun before the header said which
        dataset and so which controls apply)."""
        if problems := controls.check_columns(dict(scales)):
            raise ValueError("; ".join(problems))
        self.controls = controls
        self._scales = scales
        self._hash = content if content is not None else hashlib.sha256()
        self.sums = dict.fromkeys(controls.summed_columns, Decimal(0))
        self.unsummed = dict.fromkeys(controls.summed_columns, 0)
        self.trailer: Declared | None = None
        self.trailer_line: int | None = None
        self.problems: list[str] = []  # about the trailer: each a hold, never a value

    @classmethod
    def for_header(
        cls, dataset: Dataset, key: str, names: Sequence[str], content: HASH | None, *, always: bool = False
    ) -> tuple[Tally | None, dict[str, int]]:
        """The tally of a file of `dataset` under `key` whose header has `names` (None if no control applies and
        not `always`), and where each summed column is in its records."""
        controls = dataset.controls.for_key(key)
        if not controls.declared and not always:
            return None, {}
        scales = {c.name: c.scale for c in dataset.columns if c.name in controls.summed_columns}
        tally = cls(controls, {n: s for n, s in scales.items() if s is not None}, content=content)
        return tally, {c: names.index(c) if c in names else len(names) for c in controls.summed_columns}

    def content(self, data: bytes) -> None:
        """The file's bytes as read (after decompression): a re-gzipped copy hashes the same."""
        self._hash.update(data)

    def record(self, line: int, fields: Sequence[str], positions: Mapping[str, int]) -> bool:
        """One record after the header; True if it is the trailer (then it is not a row). `positions`: where
        each summed column is in the file's records."""
        if self.trailer_line is not None and not self.problems:
            self.problems.append(f"the trailer on line {self.trailer_line} is not the last line (line {line} follows)")
        layout = self.controls.trailer
        if layout is not None and fields and is_trailer(fields[0], layout):
            self._trailer(line, fields, layout)
            return True
        for column, at in positions.items():
            value = _number(fields[at]) if at < len(fields) else None
            if value is None:
                self.unsummed[column] += 1
            else:
                self.sums[column] += value
        return False

    def _trailer(self, line: int, fields: Sequence[str], layout: TrailerLayout) -> None:
        if self.trailer_line is not None:
            self.problems.append(f"two trailers (lines {self.trailer_line} and {line})")
            return
        self.trailer_line = line
        try:
            self.trailer = parse_trailer(fields, layout, self._scales)
        except DeclaredInvalid as exc:
            self.problems.append(f"line {line}: {exc.reason}")

    @property
    def scales(self) -> Mapping[str, int]:
        """The decimal places of each summed column (what declared totals are read at)."""
        return self._scales

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def facts(self, rows_read: int, rows_rejected: int) -> FileFacts:
        return FileFacts(
            rows_read=rows_read,
            rows_rejected=rows_rejected,
            sha256=self.sha256,
            sums=dict(self.sums),
            unsummed={c: n for c, n in self.unsummed.items() if n},
        )

    def findings(self) -> list[Finding]:
        """The trailer's own failures: missing where declared, misplaced, repeated or unreadable."""
        if self.controls.trailer is None:
            return []
        if self.problems:
            return [Finding("trailer", "hold", "one readable trailer, the last line", p) for p in self.problems]
        if self.trailer is None:
            return [Finding("trailer", "hold", f"a last line starting {self.controls.trailer.tag}", "no trailer")]
        return []


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None
