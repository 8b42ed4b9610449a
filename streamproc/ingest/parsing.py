"""CSV object -> validated rows and rejects, fed in byte chunks; memory stays flat whatever the file size."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections.abc import Iterator
from itertools import chain, islice
from typing import Final, TypeAlias

from streamproc.datasets.model import UNDECODABLE, Dataset, Layout, RejectedRow, ValidRow
from streamproc.datasets.registry import Registry
from streamproc.ingest import rejections as refused
from streamproc.ingest.inflate import GzipStream
from streamproc.ingest.tally import Tally

__all__ = ["AUDIT_EVERY", "CsvFileParser", "Parsed", "RejectedRow", "ValidRow"]  # the rows are the datasets'

BOM: Final = b"\xef\xbb\xbf"
AUDIT_EVERY: Final = 1000  # one fast-path row in this many is also validated by the slow path and compared
STEP: Final = 1 << 16  # bytes inflated and parsed per step (the event loop gets control between steps)

Parsed: TypeAlias = ValidRow | RejectedRow
logger = logging.getLogger(__name__)


class _NeedMore(Exception):
    """Raised into the csv reader when the lines at hand end inside a record."""


def _need_more() -> str:
    raise _NeedMore


class CsvFileParser:
    """One object's bytes in, parsed rows out. Feed chunks in order, then close; refused.FileRejected ends the file."""

    def __init__(
        self, registry: Registry, key: str, gzip: bool, *, limits: refused.Limits | None = None, evaluate: bool = False
    ) -> None:
        """`evaluate`: tally the file (hash, sums, trailer) even if its dataset declares no control."""
        self.registry = registry
        self.key = key
        self.limits = limits = limits or refused.Limits()
        self.max_record_bytes = limits.record_bytes
        self.dataset: Dataset | None = None  # known once the header is read
        self.unknown_columns: tuple[str, ...] = ()
        self.rows_read = self.rows_valid = self.rows_rejected = 0
        self._gzip = GzipStream(key, limits, STEP) if gzip else None
        self._head: bytes | None = b""  # the first bytes, until we know whether they are a BOM
        self._seen_bytes = False
        self._pending: list[bytes] = []  # from the start of the first unparsed record
        self._pending_size = 0
        self._retry_size = 0  # an incomplete record is parsed again once pending doubles
        self._line = 1  # physical line number of the first pending byte
        self._skipping = self._skip_odd = False  # inside a rejected record; its quote parity so far
        self._layout: Layout | None = None
        self._fast = True  # the fast path is on until an audit finds it disagreeing with the slow path
        self._audit_in = AUDIT_EVERY
        self._failed: refused.FileRejected | None = None
        self._closed = False
        # Controls: the content's hash from the first byte (only if some dataset declares controls, so a registry
        # without any costs what it did), then, once the header names a dataset with controls, its tally.
        self._evaluate = evaluate
        self._content = hashlib.sha256() if registry.declares_controls or evaluate else None
        self.tally: Tally | None = None
        self._sum_at: dict[str, int] = {}  # summed column -> its position in this file's records

    def feed(self, chunk: bytes) -> list[Parsed]:
        """The rows whose records end in this chunk."""
        return [row for step in self.steps(chunk) for row in step]

    def steps(self, chunk: bytes) -> Iterator[list[Parsed]]:
        """The rows whose records end in this chunk, one step at a time: each step inflates and parses at most
        STEP bytes, so a caller can yield to the event loop between steps however well the chunk compresses."""
        self._check_usable()
        try:
            for data in self._inflate(chunk):
                if self._content is not None:
                    self._content.update(data)
                for start in range(0, len(data), STEP):
                    rows = self._ingest(data[start : start + STEP])
                    if self.rows_read > self.limits.rows:
                        msg = f"{self.key}: more than {self.limits.rows} rows (cap STREAMPROC_MAX_ROWS_PER_FILE)"
                        raise refused.OverLimit(msg)
                    yield rows
        except refused.FileRejected as exc:
            self._failed = exc
            raise

    def close(self) -> list[Parsed]:
        """The rows left at the end of the object; raises refused.FileRejected for an empty, headless or cut file."""
        self._check_usable()
        self._closed = True
        out: list[Parsed] = []
        try:
            if self._gzip is not None:
                self._gzip.check_complete()
            if self._head is not None:
                out.extend(self._ingest(self._settle_bom(b"", final=True)))
            if not self._seen_bytes:
                msg = f"{self.key}: the object is empty"
                raise refused.EmptyObject(msg)
            if not self._skipping:
                out.extend(self._parse_pending(final=True))
            if self.dataset is None:
                msg = f"{self.key}: the object has no header row"
                raise refused.NoHeader(msg)
        except refused.FileRejected as exc:
            self._failed = exc
            raise
        return out

    def _check_usable(self) -> None:
        if self._failed is not None:
            raise self._failed
        if self._closed:
            msg = "the parser is closed"
            raise RuntimeError(msg)

    def _inflate(self, chunk: bytes) -> Iterator[bytes]:
        if self._gzip is None or not chunk:
            yield chunk
            return
        yield from self._gzip.inflate(chunk)

    def _settle_bom(self, data: bytes, *, final: bool) -> bytes:
        head = (self._head or b"") + data
        if len(head) < len(BOM) and BOM.startswith(head) and not final:
            self._head = head
            return b""
        self._head = None
        self._seen_bytes = self._seen_bytes or bool(head)
        return head.removeprefix(BOM)

    def _ingest(self, data: bytes) -> list[Parsed]:
        if self._head is not None:
            data = self._settle_bom(data, final=False)
        if self._skipping:
            data = self._skip(data)
        if not data:
            return []
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size > self.max_record_bytes or (self._pending_size >= self._retry_size and b"\n" in data):
            return self._parse_pending(final=False)
        return []

    def _parse_pending(self, *, final: bool) -> list[Parsed]:
        buffer = b"".join(self._pending)
        cut = len(buffer) if final else buffer.rfind(b"\n") + 1
        out, carry = self._parse_block(buffer[:cut], final=final)
        rest = buffer[cut:]
        if self._skipping:
            rest = self._skip(rest)  # rest holds no line end, so the rejected record goes on past it
        pending = carry + rest
        self._pending, self._pending_size = ([pending] if pending else []), len(pending)
        self._retry_size = 2 * len(carry)
        if self._pending_size > self.max_record_bytes:  # rejected unread, so memory stays bounded
            out.append(self._reject_unmapped(self._line, "record_too_large", f"is over {self.max_record_bytes} bytes"))
            self._pending, self._pending_size, self._retry_size = [], 0, 0
            self._skipping, self._skip_odd = True, False
            if rest := self._skip(pending):
                out.extend(self._ingest(rest))
        return out

    def _parse_block(self, block: bytes, *, final: bool) -> tuple[list[Parsed], bytes]:
        """Rows of the records in block, and the bytes of a record it ends inside (to parse again later)."""
        try:
            text, dirty = block.decode(), False
        except UnicodeDecodeError:
            text, dirty = block.decode("utf-8", "surrogateescape"), True
        lines = io.StringIO(text, newline="\n").readlines()
        out: list[Parsed] = []
        start = 0
        while start < len(lines):
            # The csv module finds where records end (quoted newlines, stray quotes) exactly as it parses them.
            # strict: a quoted field followed by anything but a delimiter or a line end is an error (RFC 4180),
            # never text silently kept; a quote inside an unquoted field stays a literal character (5" tablet).
            reader = csv.reader(chain(islice(lines, start, None), iter(_need_more, None)), strict=True)
            done = 0
            try:
                for fields in reader:
                    first, done = start + done, reader.line_num
                    if len(fields) > 1 or (fields and fields[0].strip()):  # else a blank line
                        row = self._record(self._line + first, fields, dirty)
                        if row is not None:
                            out.append(row)
            except _NeedMore:
                start += done
                break
            except csv.Error as exc:
                # Text after a closing quote on the record's own first line: the quote closed there, so the
                # record ends with that line. Met on a later line, the record opened a quoted field that ran on
                # (a stray quote): where it ends is judged by quote parity, as for any quote left open.
                one_line = reader.line_num - done <= 1
                rule, message = refused.csv_rule(exc, one_line=one_line)
                out.append(self._reject_unmapped(self._line + start + done, rule, message))
                start = start + done + 1 if one_line else self._end_by_parity(lines, start + done)
        carry = "".join(lines[start:]).encode("utf-8", "surrogateescape")
        if final and carry:
            out.append(self._reject_unmapped(self._line + start, "csv_syntax", "ends inside a quoted field"))
            carry, start = b"", len(lines)
        self._line += start
        return out, carry

    def _end_by_parity(self, lines: list[str], start: int) -> int:
        """Index of the line after a broken record that starts at lines[start], judged by quote parity."""
        odd = False
        for index in range(start, len(lines)):
            odd ^= bool(lines[index].count('"') & 1)
            if not odd:
                return index + 1
        self._skipping, self._skip_odd = True, True
        return len(lines)

    def _skip(self, data: bytes) -> bytes:
        """Drop the rest of a rejected record (up to a line end outside quotes); return what follows it."""
        position = 0
        while (end := data.find(b"\n", position)) >= 0:
            self._skip_odd ^= bool(data.count(b'"', position, end) & 1)
            self._line += 1
            position = end + 1
            if not self._skip_odd:
                self._skipping = False
                return data[position:]
        self._skip_odd ^= bool(data.count(b'"', position) & 1)
        return b""

    def _record(self, line: int, fields: list[str], dirty: bool) -> Parsed | None:
        layout = self._layout
        if layout is None:
            self._accept_header(fields, dirty)
            return None
        if self.tally is not None and self.tally.record(line, fields, self._sum_at):
            return None  # the trailer: control totals, not a row
        if not dirty and self._fast:
            row = layout.fast_row(line, fields)
            if row is not None:
                self.rows_read += 1
                self.rows_valid += 1
                self._audit_in -= 1
                return row if self._audit_in else self._audit(row, fields)
        return self._count(layout.row(line, fields, dirty=dirty))

    def _audit(self, fast: ValidRow, fields: list[str]) -> Parsed:
        """Every AUDIT_EVERY-th fast row is also read by the slow path; a disagreement turns the fast path off."""
        self._audit_in = AUDIT_EVERY
        layout = self._layout
        slow = layout.row(fast.line, fields) if layout else fast
        if slow == fast or layout is None:
            return fast
        self._fast = False
        logger.error(
            "%s: the fast path disagrees with the slow path on line %d (dataset %s); slow path only from here",
            self.key, fast.line, layout.dataset.name,
        )  # fmt: skip
        if isinstance(slow, RejectedRow):
            self.rows_valid -= 1
            self.rows_rejected += 1
        return slow

    def _count(self, parsed: Parsed) -> Parsed:
        self.rows_read += 1
        if isinstance(parsed, ValidRow):
            self.rows_valid += 1
        else:
            self.rows_rejected += 1
        return parsed

    def _accept_header(self, fields: list[str], dirty: bool) -> None:
        if dirty and any(UNDECODABLE.search(f) for f in fields):
            msg = f"{self.key}: the header row is not valid UTF-8"
            raise refused.BadHeader(msg)
        names = tuple(f.strip().lower() for f in fields)
        dataset = self.registry.recognise(self.key, names)
        if dataset is None:
            # The first line may be data (a headerless file): say how many columns it has, never what they say.
            msg = (
                f"no dataset recognises {self.key!r}: its first line has {len(names)} column(s) and matches no "
                f"dataset's required columns; known: {self.registry.describe()}"
            )
            raise refused.UnknownDataset(msg)
        layout = dataset.layout(names)
        if layout.missing:
            msg = f"{self.key}: dataset {dataset.name} needs the missing column(s) {', '.join(layout.missing)}"
            raise refused.MissingColumns(msg)
        if layout.repeated:
            msg = f"{self.key}: the header repeats the column(s) {', '.join(layout.repeated)}"
            raise refused.BadHeader(msg)
        self.dataset, self._layout, self.unknown_columns = dataset, layout, layout.unknown
        self.tally, self._sum_at = Tally.for_header(dataset, self.key, names, self._content, always=self._evaluate)

    def _reject_unmapped(self, line: int, rule: str, message: str) -> Parsed:
        if self.dataset is None:
            msg = f"{self.key}: the header row {message}"
            raise refused.BadHeader(msg)
        return self._count(RejectedRow.unmapped(line, rule, message))
