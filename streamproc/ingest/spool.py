"""A file's records kept on this worker's disk between its evaluation and its publication (controls).

A file whose dataset declares controls must not put a row on the dataset topic before its verdict: downstream
consumers read that topic, so it cannot hold rows back. The split's first pass parses, validates, tallies and
hashes the object once, writing each record it would send here instead; the verdict is taken on the tally; a file
that passes (or only warns) is then published from the spool, in the split's usual windows and checkpoints, and a
HELD one is not published at all (a release reads the object again, by its ETag or version). Parsing once is what
keeps a clean file with controls within 1.25x of one without: the spool costs a write and a read of bytes already
encoded.

The spool is this worker's alone and goes with it: a worker that dies mid-file leaves the next owner to evaluate
the object again (the same bytes, so the same verdict) and to resume publishing after the ledger's checkpoint.
Framing: per record a header (kind, line, key length, value length; big-endian) then the key and value bytes.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Final, NamedTuple

from streamproc.ingest.rejections import OverLimit

ROW: Final = 0  # a row event, for the dataset topic
LETTER: Final = 1  # a dead letter, for the dead-letter topic
_HEADER = struct.Struct(">BQII")
_WRITE_BUFFER = 1 << 20


class SpoolFull(OverLimit):
    """The file's records passed the spool's byte cap: the file fails, the cap named; nothing was published."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file's records passed the spool cap of {limit} bytes (STREAMPROC_SPOOL_MAX_BYTES)")
        self.limit = limit


class SpoolDamaged(Exception):
    """The spool file ended before its last record: something else truncated it."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"the spool {path.name} ends before its last record")


class Spooled(NamedTuple):
    kind: int  # ROW or LETTER
    line: int
    key: bytes
    value: bytes


class Spool:
    """Records appended while the file is evaluated, read back in order once; the file is removed on close."""

    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="spool-", suffix=".bin", dir=directory)
        self.path = Path(name)
        self._file: BinaryIO = os.fdopen(fd, "w+b", buffering=_WRITE_BUFFER)
        self.max_bytes = max_bytes
        self.size = 0
        self.records = 0

    def add(self, kind: int, line: int, key: bytes, value: bytes) -> None:
        self.add_many([(kind, line, key, value)])

    def add_many(self, items: list[tuple[int, int, bytes, bytes]]) -> None:
        """(kind, line, key, value) records, in line order; all or none of them (the cap)."""
        pack = _HEADER.pack
        chunk = b"".join(b"%b%b%b" % (pack(k, line, len(key), len(value)), key, value) for k, line, key, value in items)
        if self.size + len(chunk) > self.max_bytes:
            raise SpoolFull(self.max_bytes)
        self._file.write(chunk)
        self.size += len(chunk)
        self.records += len(items)

    def batches(self, size: int) -> Iterator[list[Spooled]]:
        """Every record in the order added, `size` at a time; ends the writing."""
        self._file.flush()
        self._file.seek(0)
        read, header = self._file.read, _HEADER
        batch: list[Spooled] = []
        for _ in range(self.records):
            raw = read(header.size)
            if len(raw) < header.size:
                raise SpoolDamaged(self.path)
            kind, line, key_length, value_length = header.unpack(raw)
            key, value = read(key_length), read(value_length)
            if len(key) < key_length or len(value) < value_length:
                raise SpoolDamaged(self.path)
            batch.append(Spooled(kind, line, key, value))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def close(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
