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
Framing: per frame (one parser step's records, encoded by the caller) its length (big-endian), then its bytes.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from streamproc.ingest.rejections import OverLimit

_LENGTH = struct.Struct(">Q")
_WRITE_BUFFER = 1 << 20


class SpoolFull(OverLimit):
    """The file's records passed the spool's byte cap: the file fails, the cap named; nothing was published."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file's records passed the spool cap of {limit} bytes (STREAMPROC_SPOOL_MAX_BYTES)")
        self.limit = limit


class SpoolDamaged(Exception):
    """The spool file ended before its last frame: something else truncated it."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"the spool {path.name} ends before its last record")


class Spool:
    """Frames appended while the file is evaluated, read back in order; the file is removed on close."""

    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="spool-", suffix=".bin", dir=directory)
        self.path = Path(name)
        self._file: BinaryIO = os.fdopen(fd, "w+b", buffering=_WRITE_BUFFER)
        self.max_bytes = max_bytes
        self.size = 0
        self.frames = 0

    def add(self, frame: bytes) -> None:
        """One frame, whole or not at all (the cap)."""
        if self.size + _LENGTH.size + len(frame) > self.max_bytes:
            raise SpoolFull(self.max_bytes)
        self._file.write(_LENGTH.pack(len(frame)))
        self._file.write(frame)
        self.size += _LENGTH.size + len(frame)
        self.frames += 1

    def read(self) -> Iterator[bytes]:
        """Every frame in the order added; ends the writing (a read may be started again from the first frame)."""
        self._file.flush()
        self._file.seek(0)
        read, length = self._file.read, _LENGTH
        for _ in range(self.frames):
            raw = read(length.size)
            if len(raw) < length.size:
                raise SpoolDamaged(self.path)
            (size,) = length.unpack(raw)
            frame = read(size)
            if len(frame) < size:
                raise SpoolDamaged(self.path)
            yield frame

    def close(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
