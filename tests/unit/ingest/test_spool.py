"""The spool: frames back in order, a byte cap, damage detected, nothing left on disk; an evaluation's records back
from it in line order, as rows only, or as rejected rows only, joined into batches of SPOOL_BATCH or more."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.contract.events import FieldError
from streamproc.ingest import evaluation
from streamproc.ingest.evaluation import Evaluation
from streamproc.ingest.parsing import Parsed, RejectedRow, ValidRow
from streamproc.ingest.spool import Spool, SpoolDamaged, SpoolFull


def test_frames_come_back_in_the_order_added(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=1 << 20) as spool:
        for frame in (b'{"a":1}', b"", b"\x00\xff" * 100):
            spool.add(frame)
        assert list(spool.read()) == [b'{"a":1}', b"", b"\x00\xff" * 100]
        assert list(spool.read()) == [b'{"a":1}', b"", b"\x00\xff" * 100]  # a second read starts again


def test_an_empty_spool_yields_nothing(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=10) as spool:
        assert list(spool.read()) == []


def test_a_frame_past_the_cap_is_refused_whole_and_what_was_added_stays_readable(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=60) as spool:
        spool.add(b"x" * 20)  # 8 bytes of length + 20
        with pytest.raises(SpoolFull, match="spool cap of 60 bytes"):
            spool.add(b"y" * 30)
        assert (spool.frames, spool.size) == (1, 28)
        assert list(spool.read()) == [b"x" * 20]


def test_a_truncated_spool_file_is_reported_not_read_short(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=1 << 20) as spool:
        spool.add(b"value")
        spool.add(b"value")
        spool._file.flush()
        spool._file.truncate(spool.size - 3)
        with pytest.raises(SpoolDamaged, match="ends before its last record"):
            list(spool.read())


def test_closing_removes_the_file_even_when_the_pass_failed(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), Spool(tmp_path / "spool", max_bytes=100) as spool:
        spool.add(b"v")
        raise RuntimeError
    assert list((tmp_path / "spool").iterdir()) == []


def _rejected(line: int) -> RejectedRow:
    error = FieldError(field="ndc", rule="ndc", message="not 11 digits")
    return RejectedRow(line=line, errors=(error,), error_class="InvalidRow", raw_masked="a,***,c")


def _steps() -> list[list[Parsed]]:
    """Three parser steps: rows and rejected rows interleaved, a step with no rejected row, an empty step."""
    return [
        [ValidRow(2, b"k2", b'{"a":2}'), _rejected(3), ValidRow(4, b"k4", b'{"a":4}'), _rejected(5)],
        [ValidRow(6, b"k6", b'{"a":6}'), ValidRow(8, b"k8", b"\x00\xff")],
        [],
        [_rejected(9), ValidRow(10, b"", b"{}")],
    ]


@pytest.mark.parametrize("batch", [1, 3, 1000])
def test_an_evaluations_records_come_back_equal_and_in_line_order_in_batches_of_the_size_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    monkeypatch.setattr(evaluation, "SPOOL_BATCH", batch)
    steps = _steps()
    everything = [r for step in steps for r in step]
    rows = [r for r in everything if isinstance(r, ValidRow)]
    letters = [r for r in everything if isinstance(r, RejectedRow)]
    ev = Evaluation(tmp_path, 1 << 20)
    for step in steps:
        ev.add(step)
    back = list(ev.records())
    assert [r for b in back for r in b] == everything
    assert all(len(b) >= batch for b in back[:-1])
    assert [r for b in ev.records(rows_only=True) for r in b] == rows
    assert [r for b in ev.rejected() for r in b] == letters
    ev.close()
    assert list(tmp_path.iterdir()) == []


def test_an_evaluation_past_the_spool_cap_fails_the_file_naming_the_cap(tmp_path: Path) -> None:
    ev = Evaluation(tmp_path, 64)
    ev.add([ValidRow(2, b"k", b"x" * 20)])
    with pytest.raises(SpoolFull, match="STREAMPROC_SPOOL_MAX_BYTES"):
        ev.add([ValidRow(3, b"k", b"x" * 40)])
    ev.close()
