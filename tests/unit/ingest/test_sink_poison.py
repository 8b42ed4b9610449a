"""A row that makes the sink raise what it does not expect never stops its dataset's sink (issue 16, defect 4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from streamproc.ingest.ledger import LoadBatch
from tests.unit.fakes import FakeRecord, FakeSinkStore
from tests.unit.ingest.test_sink import CLAIMS, World, claim_records


def _with_event_time(record: FakeRecord, event_time: str) -> FakeRecord:
    event = msgspec.json.decode(record.value or b"")
    event["provenance"]["event_time"] = event_time
    return FakeRecord(record.topic, record.partition, record.offset, msgspec.json.encode(event))


async def test_a_row_event_whose_time_has_no_utc_offset_is_dead_lettered_and_the_sink_goes_on() -> None:
    # Before: the naive time met an aware one of the same claim in `load_batch` (TypeError), the sink restarted
    # onto the same batch forever and nothing of the topic loaded again.
    records = claim_records(6, partitions=1)
    naive = _with_event_time(records[3], "2026-01-01T00:00:01")
    again = FakeRecord(CLAIMS.topic, 0, 6, records[3].value)  # the same claim again, with an aware time
    w = World([*records[:3], naive, *records[4:], again], batch_size=100)
    await w.run_until(lambda: len(w.source.commits) == 1)
    assert w.sink.stats.restarts == 0
    assert len(w.store.rows) == 6
    (letter,) = w.letters()
    assert (letter.stage, letter.source_offset, letter.error_class) == ("sink", 3, "ValidationError")
    assert "UTC offset" in letter.reason
    assert w.source.commits[0][(CLAIMS.topic, 0)] == 7


class _BuggyStore(FakeSinkStore):
    """A store with a bug that meets one row: it raises KeyError (not a project error) whenever that row is in."""

    def __init__(self, bad: object) -> None:
        super().__init__()
        self.bad = bad

    async def write_batch(self, dataset: Any, batch: LoadBatch) -> None:
        if any(row[0] == self.bad for row in batch.rows):
            raise KeyError(self.bad)
        await super().write_batch(dataset, batch)


async def test_a_bug_that_meets_one_row_dead_letters_that_row_only_and_never_loops_on_the_batch() -> None:
    records = claim_records(20)
    bad = msgspec.json.decode(records[7].value or b"")["row"]["claim_id"]
    w = World(records, batch_size=100)
    w.sink.store = w.store = _BuggyStore(bad)
    await w.run_until(lambda: len(w.source.commits) == 1)
    assert w.sink.stats.restarts == 0
    assert sorted(str(row[0]) for row in w.store.rows) == sorted(_claims(records) - {bad})
    (letter,) = w.letters()
    assert (letter.stage, letter.error_class, letter.line) == ("sink", "KeyError", _line(records[7]))
    assert letter.reason.startswith("the sink failed on this row")
    assert bad not in letter.reason  # what the bug said may quote a value: only its class is kept
    assert [(r.error_class, r.errors[0].rule) for r in w.store.rejected] == [("KeyError", "sink_error")]
    assert w.sink.stats.unexpected_errors >= 1


def _claims(records: Sequence[FakeRecord]) -> set[str]:
    return {msgspec.json.decode(r.value or b"")["row"]["claim_id"] for r in records}


def _line(record: FakeRecord) -> int:
    return int(msgspec.json.decode(record.value or b"")["provenance"]["line"])
