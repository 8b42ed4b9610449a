"""The fan-out's rules with hand-written fakes of S3, the ledger and Kafka: no services, milliseconds."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from streamproc.contract.events import DEAD_LETTER_DECODER, ENCODER, DeadLetter, ObjectEvent
from streamproc.datasets import samples
from streamproc.datasets.controls import ControlPolicy, Controls, ErrorBudget, Limit, TrailerLayout
from streamproc.datasets.registry import Registry
from streamproc.ingest.deadletter_writer import DeadLetterWriter
from streamproc.ingest.fanout import FanOut
from streamproc.ingest.ledger import COMPLETED, HELD, PARTIAL, Checkpoint, Fence
from streamproc.ingest.ports import ManifestLedger
from streamproc.ingest.split_context import Position, SplitPolicy
from tests.unit.fakes import FakeLedger, FakeProducer, FakeReader, FakeStore
from tests.unit.registries import PLAIN

REGISTRY: Registry = PLAIN  # the seed datasets without their controls: the split's plain path
CLAIMS = REGISTRY.by_name("pharmacy_claims")
HERE = Position("ingest.objects", 0, 7)


def event(key: str, bucket: str = "drop") -> ObjectEvent:
    return ObjectEvent(
        bucket=bucket, key=key, etag="e1", event_name="ObjectCreated:Put", event_time=datetime(2026, 1, 1, tzinfo=UTC)
    )


class World:
    def __init__(
        self,
        *,
        window: int = 20_000,
        chunk_size: int = 64,
        ledger: FakeLedger | None = None,
        registry: Registry = REGISTRY,
        spool_dir: Path | None = None,
        manifests: ManifestLedger | None = None,
        manifest_wait: float = 3600.0,
    ) -> None:
        self.store = FakeStore(chunk_size)
        self.ledger = ledger or FakeLedger()
        self.producer = FakeProducer()
        self.fanout = FanOut(
            registry=registry,
            ledger=self.ledger,
            store=self.store,
            producer=self.producer,
            reader=FakeReader(self.producer),
            letters=DeadLetterWriter(self.producer, "dead", backoff_cap=0.001),
            policy=SplitPolicy(
                window=window,
                backoff_cap=0.001,
                owner="me",
                lease=1.0,
                spool_dir=spool_dir,
                manifest_wait=manifest_wait,
                objects_topic="objects",
            ),
            manifests=manifests,
        )

    def put(self, key: str, body: bytes) -> ObjectEvent:
        self.store.objects[("drop", key)] = body
        return event(key)

    async def ingest(self, ev: ObjectEvent) -> None:
        await self.fanout.handle(ENCODER.encode(ev), HERE)

    def letters(self) -> list[DeadLetter]:
        return [DEAD_LETTER_DECODER.decode(value) for _, value in self.producer.records("dead")]

    def claim_keys(self) -> list[bytes]:
        return [key for key, _ in self.producer.records(CLAIMS.topic)]


async def test_every_valid_row_becomes_one_event_keyed_by_claim_id_and_every_bad_row_one_masked_letter() -> None:
    w = World()
    body = samples.csv_bytes("pharmacy_claims", 300, 0.05, seed=5)
    await w.ingest(w.put("pharmacy_claims/a.csv", body))
    (counts,) = w.ledger.finished
    assert counts.rows_read == 300
    assert counts.rows_valid + counts.rows_rejected == 300
    assert 0 < counts.rows_rejected < 40
    assert len(w.claim_keys()) == len(set(w.claim_keys())) == counts.rows_valid
    letters = w.letters()
    assert len(letters) == counts.rows_rejected
    assert all(x.stage == "split" and x.key == "pharmacy_claims/a.csv" and x.line for x in letters)
    member_ids = {row[1] for row in samples.rows("pharmacy_claims", 300, 0.05, seed=5)}
    assert not any(m in (x.raw or "") for x in letters for m in member_ids)  # member_id is PHI: masked
    assert w.fanout.stats.by_status == {PARTIAL: 1}


async def test_an_undecodable_object_event_becomes_a_letter_that_withholds_the_body() -> None:
    w = World()
    await w.fanout.handle(b'{"bucket": "drop", "member": "M-SECRET"', HERE)
    (letter,) = w.letters()
    assert (letter.stage, letter.source_topic, letter.source_offset) == ("split", "ingest.objects", 7)
    assert "M-SECRET" not in ENCODER.encode(letter).decode()
    assert w.ledger.begun == []


async def test_a_file_no_dataset_claims_fails_without_echoing_its_first_line() -> None:
    w = World()
    await w.ingest(w.put("misc/colours.csv", b"Jane Doe,1970-01-01,M1234567\nred,9,x\n"))
    ((reason, _),) = w.ledger.failed
    (letter,) = w.letters()
    assert letter.error_class == "UnknownDataset"
    for text in (reason, ENCODER.encode(letter).decode()):
        assert "Jane" not in text and "M1234567" not in text and "1970" not in text


async def test_a_stream_that_breaks_mid_file_is_read_again_and_no_line_is_emitted_twice() -> None:
    w = World(chunk_size=200)
    w.store.breaks = [5, 30]  # the first read fails after 5 chunks, the second after 30
    await w.ingest(w.put("pharmacy_claims/b.csv", samples.csv_bytes("pharmacy_claims", 400, 0.0, seed=6)))
    assert w.store.reads == 3
    assert w.fanout.stats.stream_retries == 2
    assert len(w.claim_keys()) == len(set(w.claim_keys())) == 400
    assert w.ledger.finished[0].rows_read == 400


async def test_records_kafka_did_not_take_are_sent_again_and_no_record_is_sent_twice() -> None:
    w = World(chunk_size=4096)
    w.producer.handover_limit = [3, 0, 10]  # three sends in a row hand over only part of their records
    await w.ingest(w.put("pharmacy_claims/c.csv", samples.csv_bytes("pharmacy_claims", 500, 0.0, seed=7)))
    assert sorted(w.claim_keys()) == sorted({k for k in w.claim_keys()})
    assert len(w.claim_keys()) == 500
    assert w.ledger.finished[0].rows_valid == 500


async def test_a_topic_kafka_refuses_fails_the_file_with_a_reason() -> None:
    w = World()
    w.producer.refuse_topic = CLAIMS.topic
    await w.ingest(w.put("pharmacy_claims/d.csv", samples.csv_bytes("pharmacy_claims", 20, 0.0, seed=8)))
    ((reason, counts),) = w.ledger.failed
    assert "TopicAuthorizationFailed" in reason
    assert counts.dataset == "pharmacy_claims"
    assert [x.error_class for x in w.letters()] == ["Refused"]


async def test_a_ledger_that_is_away_for_a_moment_is_waited_for() -> None:
    w = World()
    w.ledger.unavailable = 3
    await w.ingest(w.put("pharmacy_claim.csv", samples.csv_bytes("pharmacy_claims", 10, 0.0, seed=9)))
    assert w.fanout.stats.by_status == {COMPLETED: 1}
    assert len(w.claim_keys()) == 10


async def test_a_bug_is_recorded_as_a_failed_file_and_never_escapes_the_handler() -> None:
    w = World()
    w.ledger.broken = KeyError("a bug")
    await w.ingest(w.put("pharmacy_claims/e.csv", b"claim_id\nC1\n"))
    (letter,) = w.letters()
    assert letter.reason.startswith("unexpected error while ingesting: KeyError")
    assert w.fanout.stats.files_failed == 1


@pytest.mark.parametrize("window", [1, 7, 100_000])
async def test_the_window_only_changes_when_acks_are_awaited_never_what_is_sent(window: int) -> None:
    w = World(window=window, chunk_size=512)
    await w.ingest(w.put("pharmacy_claims/f.csv", samples.csv_bytes("pharmacy_claims", 120, 0.1, seed=10)))
    counts = w.ledger.finished[0]
    assert len(w.claim_keys()) == counts.rows_valid
    assert len(w.letters()) == counts.rows_rejected
    assert counts.rows_read == 120


async def test_the_same_event_again_is_recorded_and_skipped_and_emits_nothing_more() -> None:
    w = World()
    ev = w.put("pharmacy_claims/g.csv", samples.csv_bytes("pharmacy_claims", 50, 0.0, seed=11))
    for _ in range(3):
        await w.ingest(ev)
    assert len(w.claim_keys()) == 50
    assert (len(w.ledger.begun), w.ledger.duplicates, w.fanout.stats.duplicates) == (1, 2, 2)


async def test_a_forced_event_runs_a_finished_version_again() -> None:
    w = World()
    ev = w.put("pharmacy_claims/h.csv", samples.csv_bytes("pharmacy_claims", 20, 0.0, seed=12))
    await w.ingest(ev)
    await w.ingest(msgspec.structs.replace(ev, forced=True))
    assert len(w.ledger.begun) == 2
    assert len(w.claim_keys()) == 40  # sent twice; the sinks' upsert and line ledger make that harmless


async def test_why_each_row_was_rejected_is_kept_in_the_ledger_without_its_values() -> None:
    w = World(window=5)
    body = samples.csv_bytes("pharmacy_claims", 200, 0.1, seed=13)
    await w.ingest(w.put("pharmacy_claims/i.csv", body))
    counts = w.ledger.finished[0]
    assert sorted(r.line for r in w.ledger.rejects) == sorted(x.line or 0 for x in w.letters())
    assert len(w.ledger.rejects) == counts.rows_rejected
    assert all(r.stage == "split" and r.errors and r.errors[0].rule for r in w.ledger.rejects)
    cells = {cell for row in samples.rows("pharmacy_claims", 200, 0.1, seed=13) for cell in row if len(cell) > 3}
    assert not any(e.message in cells or e.field in cells for r in w.ledger.rejects for e in r.errors)


async def test_a_split_stopped_mid_file_resumes_from_its_checkpoint_and_duplicates_no_row_event() -> None:
    w = World(window=40, chunk_size=900)
    ev = w.put("pharmacy_claims/j.csv", samples.csv_bytes("pharmacy_claims", 600, 0.05, seed=14))
    w.store.stall_after = 30  # well past a few checkpoints, with records sent since the last one
    first = asyncio.create_task(w.ingest(ev))
    await w.store.stalled.wait()
    first.cancel()  # the worker stops (or dies) in the middle of the file
    with contextlib.suppress(asyncio.CancelledError):
        await first
    sent_before = len(w.claim_keys())
    assert 0 < sent_before < 600
    assert w.ledger.released == [1]  # a clean stop gives the claim up for the next owner
    await w.ingest(ev)  # the event again: its claim resumes from the checkpoint
    keys = w.claim_keys()
    assert len(keys) == len(set(keys)) == w.ledger.finished[0].rows_valid
    letters = [x.line for x in w.letters()]
    assert len(letters) == len(set(letters)) == w.ledger.finished[0].rows_rejected
    assert w.ledger.finished[0].rows_read == 600


async def test_a_stopping_worker_lets_go_of_the_file_in_hand_and_says_not_to_ack_its_event() -> None:
    w = World(window=40, chunk_size=900)
    ev = w.put("pharmacy_claims/stop.csv", samples.csv_bytes("pharmacy_claims", 600, 0.0, seed=15))
    w.store.stall_after = 30
    first = asyncio.create_task(w.fanout.handle(ENCODER.encode(ev), HERE))
    await w.store.stalled.wait()
    await asyncio.wait_for(w.fanout.stop(grace=5), 5)  # returns once the split let go, well within its grace
    assert first.done()
    assert await first is False  # not done with: the agent leaves it unacked, the next owner reads it again
    assert w.ledger.released == [1]  # released while the ledger is still there
    assert w.ledger.finished == []
    other = w.put("pharmacy_claims/later.csv", samples.csv_bytes("pharmacy_claims", 10, 0.0, seed=16))
    assert await w.fanout.handle(ENCODER.encode(other), HERE) is False  # nothing new starts once stopping
    assert not any(b"later.csv" in v for _, v in w.producer.records(CLAIMS.topic))


async def test_a_rebalance_that_takes_the_files_partition_away_lets_go_of_it_without_stopping_the_worker() -> None:
    w = World(window=40, chunk_size=900)
    ev = w.put("pharmacy_claims/moved.csv", samples.csv_bytes("pharmacy_claims", 600, 0.0, seed=18))
    w.store.stall_after = 30
    first = asyncio.create_task(w.fanout.handle(ENCODER.encode(ev), HERE))
    await w.store.stalled.wait()
    await w.fanout.revoked({(HERE.topic, HERE.partition + 1)}, grace=1)  # another partition: nothing happens
    assert not first.done()
    await asyncio.wait_for(w.fanout.revoked({(HERE.topic, HERE.partition)}, grace=5), 5)
    assert await first is False  # left unacked: the partition's next owner resumes the file
    assert w.ledger.released == [1]
    assert w.ledger.finished == []
    other = w.put("pharmacy_claims/after.csv", samples.csv_bytes("pharmacy_claims", 10, 0.0, seed=19))
    assert await w.fanout.handle(ENCODER.encode(other), HERE) is True  # the worker goes on with what it still owns
    await w.fanout.revoked({(HERE.topic, HERE.partition)}, grace=1)  # nothing in hand: nothing to let go


async def test_a_finished_event_is_to_be_acked() -> None:
    w = World()
    ev = w.put("pharmacy_claims/done.csv", samples.csv_bytes("pharmacy_claims", 20, 0.0, seed=17))
    assert await w.fanout.handle(ENCODER.encode(ev), HERE) is True
    assert w.ledger.finished[0].rows_valid == 20


async def test_a_key_overwritten_before_it_is_read_ends_superseded_and_emits_nothing_of_the_newer_bytes() -> None:
    w = World()
    ev = w.put("pharmacy_claims/over.csv", samples.csv_bytes("pharmacy_claims", 30, 0.0, seed=13))
    w.store.etags[("drop", ev.key)] = "e2"  # the key now holds a newer version than the event names (ETag e1)
    await w.ingest(ev)
    assert w.ledger.ended == ["SUPERSEDED"]
    assert w.ledger.failed[0][0] == "the key was overwritten: the notified version's bytes are gone (ETag differs)"
    assert w.claim_keys() == []
    (letter,) = w.letters()
    assert (letter.error_class, letter.version) == ("ObjectSuperseded", "e1")


async def test_an_object_event_whose_time_has_no_utc_offset_is_refused_before_anything_is_claimed() -> None:
    w = World()
    raw = ENCODER.encode(event("pharmacy_claims/naive.csv")).replace(b'00:00:00Z"', b'00:00:00"')
    await w.fanout.handle(raw, HERE)
    (letter,) = w.letters()
    assert "undecodable object event" in letter.reason and "timezone" in letter.reason
    assert w.ledger.begun == []


class _TakenOverLedger(FakeLedger):
    """Another worker takes the claim over when this split writes its second checkpoint (it was paused)."""

    async def checkpoint(self, fence: Fence, at: Checkpoint) -> None:
        if at.line:  # the start checkpoint has line 0
            self.take_over(fence.file_id)
        await super().checkpoint(fence, at)


async def test_a_split_whose_claim_was_taken_over_stops_and_writes_nothing_more() -> None:
    # Before fencing, the stale split went on to the end: the topic carried the file twice and its finish_split
    # (or a stale fail_file) overwrote what the worker that took over recorded.
    w = World(window=50, ledger=_TakenOverLedger())
    await w.ingest(w.put("pharmacy_claims/taken.csv", samples.csv_bytes("pharmacy_claims", 400, 0.0, seed=14)))
    assert (w.ledger.finished, w.ledger.failed) == ([], [])
    assert w.fanout.stats.claims_lost == 1 and w.ledger.fenced_out == 1
    assert len(w.claim_keys()) <= 2 * 50  # what it handed over before its first fenced write: one window
    assert w.letters() == []


async def test_an_object_event_a_newer_version_wrote_is_held_never_dead_lettered_and_a_new_field_is_ignored() -> None:
    # Before: every unknown field made the event undecodable, so it was dead-lettered and acked: a file lost in an
    # old worker during a rolling upgrade.
    w = World()
    ev = w.put("pharmacy_claims/newer.csv", samples.csv_bytes("pharmacy_claims", 5, 0.0, seed=15))
    fields = msgspec.to_builtins(ev)
    newer = msgspec.json.encode(fields | {"schema_version": 2, "byte_range": [0, 10]})
    with pytest.raises(TimeoutError):  # held: the agent neither acks it nor goes on
        await asyncio.wait_for(w.fanout.handle(newer, HERE), timeout=0.2)
    assert (w.ledger.begun, w.letters(), w.fanout.stats.newer_events) == ([], [], HERE)
    await w.fanout.handle(msgspec.json.encode(fields | {"sweep_marker": "x"}), HERE)  # same version, a new field
    assert w.ledger.finished[0].rows_valid == 5
    assert w.letters() == []


def _with_controls(controls: Controls) -> Registry:
    others = [d for d in REGISTRY if d.name != CLAIMS.name]
    return Registry([*others, dataclasses.replace(CLAIMS, controls=ControlPolicy(default=controls))])


def _trailed(rows: int, bad_share: float = 0.0, *, count: int | None = None) -> bytes:
    body = samples.csv_bytes("pharmacy_claims", rows, bad_share, seed=9)
    header, *records = csv.reader(io.StringIO(body.decode()))
    column = header.index("total_paid")
    total = sum((Decimal(r[column]) for r in records), Decimal(0))
    return body + f"TRAILER,{rows if count is None else count},{total}\r\n".encode()


def _empty(folder: Path) -> bool:
    return not any(folder.iterdir())


BUDGET = Controls(budget=ErrorBudget(share=Limit(0.10, "hold")))
TRAILER = Controls(trailer=TrailerLayout(sums=("total_paid",)))


async def test_a_file_over_its_error_budget_is_held_with_no_row_published_only_its_dead_letters(
    tmp_path: Path,
) -> None:
    w = World(registry=_with_controls(BUDGET), spool_dir=tmp_path)
    await w.ingest(w.put("pharmacy_claims/bad.csv", samples.csv_bytes("pharmacy_claims", 200, 0.4, seed=3)))
    ((held, counts),) = w.ledger.held
    assert w.claim_keys() == []  # nothing on the dataset topic
    assert len(w.letters()) == counts.rows_rejected > 20  # the evidence
    assert len(w.ledger.rejects) == counts.rows_rejected
    assert held.findings[0]["control"].startswith("error budget")
    assert held.findings[0]["action"] == "hold"
    assert "expected" in held.reason
    assert len(held.sha256) == 64
    assert w.ledger.finished == []
    assert w.fanout.stats.by_status == {HELD: 1}
    assert _empty(tmp_path)  # the spool is gone


async def test_a_held_file_notified_again_publishes_nothing_more(tmp_path: Path) -> None:
    w = World(registry=_with_controls(BUDGET), spool_dir=tmp_path)
    ev = w.put("pharmacy_claims/bad.csv", samples.csv_bytes("pharmacy_claims", 100, 0.5, seed=3))
    await w.ingest(ev)
    published = len(w.producer.records("dead"))
    await w.ingest(ev)  # a duplicate notification, or a replay of the objects topic
    assert len(w.producer.records("dead")) == published
    assert w.claim_keys() == []
    assert w.ledger.duplicates == 1


async def test_a_file_within_its_budget_is_published_from_the_spool_exactly_as_without_controls(
    tmp_path: Path,
) -> None:
    body = samples.csv_bytes("pharmacy_claims", 300, 0.05, seed=5)
    plain, checked = World(), World(registry=_with_controls(BUDGET), spool_dir=tmp_path)
    await plain.ingest(plain.put("pharmacy_claims/a.csv", body))
    await checked.ingest(checked.put("pharmacy_claims/a.csv", body))
    assert checked.producer.records(CLAIMS.topic) == plain.producer.records(CLAIMS.topic)
    assert [x.line for x in checked.letters()] == [x.line for x in plain.letters()]
    assert checked.ledger.finished == plain.ledger.finished
    assert checked.ledger.held == []
    assert _empty(tmp_path)


async def test_a_trailer_that_reconciles_is_not_a_row_and_the_file_loads(tmp_path: Path) -> None:
    w = World(registry=_with_controls(TRAILER), spool_dir=tmp_path)
    await w.ingest(w.put("pharmacy_claims/t.csv", _trailed(80)))
    (counts,) = w.ledger.finished
    assert (counts.rows_read, counts.rows_rejected) == (80, 0)
    assert len(w.claim_keys()) == 80
    assert w.letters() == []


@pytest.mark.parametrize(
    ("body", "control"),
    [
        (samples.csv_bytes("pharmacy_claims", 30, 0.0, seed=9), "trailer"),  # cut off: no trailer
        (_trailed(30, count=31), "row count"),
    ],
)
async def test_a_file_whose_trailer_is_missing_or_disagrees_is_held(tmp_path: Path, body: bytes, control: str) -> None:
    w = World(registry=_with_controls(TRAILER), spool_dir=tmp_path)
    await w.ingest(w.put("pharmacy_claims/t.csv", body))
    ((held, _),) = w.ledger.held
    assert control in held.findings[0]["control"]
    assert w.claim_keys() == []
