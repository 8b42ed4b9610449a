"""The sink's rules with hand-written fakes of the consumer, PostgreSQL and Kafka: no services, milliseconds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from streamproc.contract.events import DEAD_LETTER_DECODER, ENCODER, DeadLetter, Provenance
from streamproc.datasets import samples
from streamproc.datasets.registry import load_registry
from streamproc.ingest.deadletter_writer import DeadLetterWriter
from streamproc.ingest.parsing import CsvFileParser, ValidRow
from streamproc.ingest.sink import SinkConsumer, keep_running
from streamproc.kafka.errors import CommitRejected
from tests.unit.fakes import FakeProducer, FakeRecord, FakeSinkStore, FakeSource, Unavailable, until

REGISTRY = load_registry()
CLAIMS = REGISTRY.by_name("pharmacy_claims")
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def claim_records(count: int, partitions: int = 3) -> list[FakeRecord]:
    """`count` row events of a generated claims file, spread over partitions, offsets in order per partition."""
    parser = CsvFileParser(REGISTRY, "pharmacy_claims/s.csv", gzip=False)
    rows = [p for p in parser.feed(samples.csv_bytes("pharmacy_claims", count, 0.0, seed=4)) + parser.close()]
    offsets = [0] * partitions
    records = []
    for n, item in enumerate(rows):
        assert isinstance(item, ValidRow)
        provenance = Provenance(bucket="b", key="pharmacy_claims/s.csv", version="v1", line=item.line, event_time=WHEN)
        partition = n % partitions
        value = ENCODER.encode(CLAIMS.event(CLAIMS.row_decoder.decode(item.row_json), provenance))
        records.append(FakeRecord(CLAIMS.topic, partition, offsets[partition], value))
        offsets[partition] += 1
    return records


class World:
    def __init__(self, records: Sequence[FakeRecord], *, batch_size: int = 50, **source: Any) -> None:
        self.source = FakeSource(records, **source)
        self.store = FakeSinkStore()
        self.producer = FakeProducer()
        self.sink = SinkConsumer(
            dataset=CLAIMS,
            source=self.source.factory,
            store=self.store,
            letters=DeadLetterWriter(self.producer, "dead", backoff_cap=0.001),
            batch_size=batch_size,
            batch_seconds=0.05,
            backoff_cap=0.001,
            shutdown_grace=0.05,
        )

    async def run_until(self, done: Callable[[], bool], limit: float = 5.0) -> None:
        stopping = asyncio.Event()
        task = asyncio.create_task(self.sink.run(stopping))
        await until(done, limit)
        stopping.set()
        await asyncio.wait_for(task, limit)

    def letters(self) -> list[DeadLetter]:
        return [DEAD_LETTER_DECODER.decode(value) for _, value in self.producer.records("dead")]


def last_offsets(records: Sequence[FakeRecord]) -> dict[tuple[str, int], int]:
    return {(r.topic, r.partition): r.offset + 1 for r in records}


async def test_each_batch_is_written_before_its_offsets_are_committed() -> None:
    records = claim_records(120)
    w = World(records, batch_size=50)
    await w.run_until(lambda: len(w.source.commits) == 3)
    assert len(w.store.rows) == 120
    assert {row[0] for row in w.store.rows} == {row[0] for row in samples.rows("pharmacy_claims", 120, 0.0, seed=4)}
    merged: dict[tuple[str, int], int] = {}
    for commit in w.source.commits:
        merged |= commit
    assert merged == last_offsets(records)
    assert (w.sink.stats.batches, w.sink.stats.rows_written, w.letters()) == (3, 120, [])
    assert w.source.started and w.source.stopped


async def test_a_database_outage_holds_the_batch_and_retries_it_without_dead_letters() -> None:
    w = World(claim_records(30), batch_size=100)
    w.store.unavailable = 4
    await w.run_until(lambda: len(w.source.commits) == 1)
    assert (w.store.writes, w.sink.stats.write_retries) == (5, 4)
    assert len(w.store.rows) == 30
    assert w.letters() == []


async def test_a_row_the_database_refuses_is_isolated_and_only_it_is_dead_lettered_masked() -> None:
    records = claim_records(40)
    bad_claim = samples.rows("pharmacy_claims", 40, 0.0, seed=4).__next__()[0]  # the first row's claim_id
    w = World(records, batch_size=100)
    w.store.refuse = lambda row: row[0] == bad_claim
    await w.run_until(lambda: len(w.source.commits) == 1)
    assert len(w.store.rows) == 39
    (letter,) = w.letters()
    assert (letter.stage, letter.line, letter.error_class) == ("sink", 2, "Refused")
    assert letter.raw is not None and '"member_id":"***"' in letter.raw
    assert "SQLSTATE" in letter.reason
    assert [ref.line for ref in w.store.rejected] == [2]
    assert w.sink.stats.rows_rejected == 1


async def test_an_undecodable_record_is_dead_lettered_without_its_body_and_the_rest_is_written() -> None:
    records = claim_records(10)
    garbage = FakeRecord(CLAIMS.topic, 0, 99, b'{"member_id": "M-SECRET-1"')
    w = World([*records, garbage], batch_size=100)
    await w.run_until(lambda: len(w.source.commits) == 1)
    assert len(w.store.rows) == 10
    (letter,) = w.letters()
    assert (letter.stage, letter.source_offset) == ("sink", 99)
    assert "M-SECRET" not in (letter.raw or "")
    assert w.source.commits[0][(CLAIMS.topic, 0)] == 100  # committed past it: it is not read again


async def test_a_commit_refused_after_a_rebalance_is_counted_and_the_sink_goes_on() -> None:
    w = World(claim_records(20), batch_size=10, commit_error=CommitRejected("commit refused after a rebalance"))
    await w.run_until(lambda: w.sink.stats.batches == 2)
    assert w.sink.stats.commit_failures == 2
    assert len(w.store.rows) == 20


async def test_stopping_during_an_outage_abandons_the_batch_uncommitted() -> None:
    w = World(claim_records(10), batch_size=100)
    w.store.unavailable = 10_000
    await w.run_until(lambda: w.store.writes >= 3)
    assert w.source.commits == []
    assert w.store.rows == []
    assert w.source.stopped


def _failing(sink: SinkConsumer) -> tuple[float | None, str | None]:
    return sink.stats.failing_since, sink.stats.last_error


class _StartFails(FakeSource):
    """A consumer that cannot start (a broker refusing the group, say) the first `failures` times."""

    def __init__(self, records: Sequence[FakeRecord], failures: int) -> None:
        super().__init__(records)
        self.failures = failures
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        if self.starts <= self.failures:
            raise Unavailable
        await super().start()


async def test_a_sink_failing_on_every_start_is_restarted_with_growing_pauses_and_says_why() -> None:
    w = World(claim_records(30))
    w.source = _StartFails(claim_records(30), failures=1000)
    w.sink._make_source = w.source.factory
    stopping = asyncio.Event()
    task = asyncio.create_task(keep_running(w.sink, stopping, cap=0.08, first=0.01))
    await asyncio.sleep(0.5)
    stopping.set()
    await asyncio.wait_for(task, 1)
    # Pauses 0.01, 0.02, 0.04, then 0.08 each (jitter shortens each by up to half): bounded, not a spin.
    assert 4 <= w.source.starts <= 20
    assert w.sink.stats.restarts == w.source.starts
    assert w.sink.stats.failing_since is not None
    assert w.sink.stats.last_error == "Unavailable"
    assert w.store.rows == []


async def test_a_sink_that_starts_after_failures_loads_everything_and_is_no_longer_failing() -> None:
    records = claim_records(30)
    w = World(records)
    w.source = _StartFails(records, failures=3)
    w.sink._make_source = w.source.factory
    stopping = asyncio.Event()
    task = asyncio.create_task(keep_running(w.sink, stopping, cap=0.02, first=0.01))
    await until(lambda: len(w.store.rows) == 30, 5)
    stopping.set()
    await asyncio.wait_for(task, 1)
    assert w.sink.stats.restarts == 3
    assert _failing(w.sink) == (None, None)


async def test_a_write_held_by_an_unavailable_database_marks_the_sink_failing_until_a_batch_lands() -> None:
    w = World(claim_records(10))
    w.store.unavailable = 10**9
    stopping = asyncio.Event()
    task = asyncio.create_task(w.sink.run(stopping))
    await until(lambda: w.sink.stats.write_retries >= 3)
    assert w.sink.stats.failing_since is not None
    assert w.sink.stats.last_error == "Unavailable: database unavailable: OperationalError"
    w.store.unavailable = 0
    await until(lambda: len(w.source.commits) == 1)
    stopping.set()
    await asyncio.wait_for(task, 5)
    assert _failing(w.sink) == (None, None)
