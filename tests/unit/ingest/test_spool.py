"""The spool: records back in order and in batches, a byte cap, damage detected, nothing left on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.ingest.spool import LETTER, ROW, Spool, SpoolDamaged, Spooled, SpoolFull


def test_records_come_back_in_the_order_added_and_in_batches_of_the_size_asked(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=1 << 20) as spool:
        spool.add_many([(ROW, 2, b"k2", b'{"a":1}'), (ROW, 3, b"", b"")])
        spool.add(LETTER, 4, b"k4", b"letter")
        spool.add(ROW, 5, b"k5", b"\x00\xff" * 100)
        batches = list(spool.batches(3))
    assert batches == [
        [Spooled(ROW, 2, b"k2", b'{"a":1}'), Spooled(ROW, 3, b"", b""), Spooled(LETTER, 4, b"k4", b"letter")],
        [Spooled(ROW, 5, b"k5", b"\x00\xff" * 100)],
    ]


def test_an_empty_spool_yields_nothing(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=10) as spool:
        assert list(spool.batches(10)) == []


def test_a_record_past_the_cap_is_refused_and_what_was_added_stays_readable(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=60) as spool:
        spool.add(ROW, 1, b"k", b"x" * 20)  # 17 bytes of header + 21
        with pytest.raises(SpoolFull, match="spool cap of 60 bytes"):
            spool.add(ROW, 2, b"k", b"x" * 20)
        assert spool.records == 1
        assert [r.line for batch in spool.batches(5) for r in batch] == [1]


def test_a_truncated_spool_file_is_reported_not_read_short(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=1 << 20) as spool:
        spool.add(ROW, 1, b"key", b"value")
        spool.add(ROW, 2, b"key", b"value")
        spool._file.flush()
        spool._file.truncate(spool.size - 3)
        with pytest.raises(SpoolDamaged, match="ends before its last record"):
            list(spool.batches(10))


def test_closing_removes_the_file_even_when_the_pass_failed(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), Spool(tmp_path / "spool", max_bytes=100) as spool:
        spool.add(ROW, 1, b"k", b"v")
        raise RuntimeError
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_batch_that_would_pass_the_cap_adds_none_of_its_records(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=100) as spool:
        spool.add_many([(ROW, 1, b"k", b"v")])
        with pytest.raises(SpoolFull):
            spool.add_many([(ROW, 2, b"k", b"v"), (LETTER, 3, b"k", b"x" * 80)])
        assert [r.line for batch in spool.batches(5) for r in batch] == [1]
