"""A gzip object inflated in bounded steps, under the caps of rejections.Limits (pure)."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from streamproc.ingest import rejections as refused


class GzipStream:
    """Inflates a .gz object fed in chunks, `step` bytes out at a time: a small chunk of a highly compressed file
    never inflates all at once, and a bomb is refused by its ratio before most of it inflates."""

    def __init__(self, key: str, limits: refused.Limits, step: int) -> None:
        self.key = key
        self.limits = limits
        self.step = step
        self.compressed_in = 0  # compressed bytes consumed so far
        self.inflated = 0  # what they inflated to
        self._inflater = zlib.decompressobj(wbits=31)
        self._member_open = False  # inside a gzip member that has not ended yet

    def inflate(self, chunk: bytes) -> Iterator[bytes]:
        """The inflated bytes of `chunk`, at most `step` at a time; raises refused.FileRejected."""
        data, produced = chunk, self.step
        while data or produced == self.step:
            if not self._member_open:
                data = data.lstrip(b"\x00")  # zero padding may follow the last member
                if not data:
                    return
            self._member_open = True
            try:
                out = self._inflater.decompress(data, self.step)
            except zlib.error as exc:
                msg = f"{self.key}: not a valid gzip stream ({exc})"
                raise refused.BadGzip(msg) from exc
            rest = self._inflater.unconsumed_tail
            if self._inflater.eof:  # a gzip file may hold several members
                rest = self._inflater.unused_data + rest
            self.compressed_in += len(data) - len(rest)
            self.inflated += len(out)
            self._check()
            data, produced = rest, len(out)
            if self._inflater.eof:
                produced = 0
                self._inflater, self._member_open = zlib.decompressobj(wbits=31), False
            if out:
                yield out

    def check_complete(self) -> None:
        """At the end of the object: raise BadGzip if a member never ended (a truncated file)."""
        if self._member_open:
            msg = f"{self.key}: the gzip stream is truncated"
            raise refused.BadGzip(msg)

    def _check(self) -> None:
        cap = self.limits
        if self.inflated > cap.inflated_bytes:
            msg = f"{self.key}: decompresses to over {cap.inflated_bytes} bytes (cap STREAMPROC_MAX_INFLATED_BYTES)"
            raise refused.OverLimit(msg)
        if self.inflated > cap.ratio_after and self.inflated > cap.ratio * max(1, self.compressed_in):
            msg = (
                f"{self.key}: decompresses to over {cap.ratio:g} times its compressed size, a decompression bomb "
                "(cap STREAMPROC_MAX_GZIP_RATIO)"
            )
            raise refused.OverLimit(msg)
