"""A resumed split reads what already landed on Kafka in pages, and a break mid-scan goes on from where it was
(issue 16, defect 7: the scan loaded every record since the checkpoint into one list, retried from scratch)."""

from __future__ import annotations

import asyncio
import contextlib

from streamproc.datasets import samples
from tests.unit.fakes import FakeReader
from tests.unit.ingest.test_fanout import CLAIMS, World


async def test_the_resume_scan_holds_one_page_and_a_break_goes_on_from_the_last_record_seen() -> None:
    w = World(window=40, chunk_size=900)
    reader = w.fanout.context.reader
    assert isinstance(reader, FakeReader)
    ev = w.put("pharmacy_claims/long.csv", samples.csv_bytes("pharmacy_claims", 600, 0.0, seed=21))
    w.store.stall_after = 30
    first = asyncio.create_task(w.ingest(ev))
    await w.store.stalled.wait()
    first.cancel()  # the worker stops in the middle of the file
    with contextlib.suppress(asyncio.CancelledError):
        await first
    checkpoint = w.ledger.checkpoints[("drop", ev.key, ev.version)]
    # Another file lands on the same topic meanwhile: 500 records the scan must read through.
    await w.ingest(w.put("pharmacy_claims/other.csv", samples.csv_bytes("pharmacy_claims", 500, 0.0, seed=22)))
    since = checkpoint.offsets[CLAIMS.topic][0]
    on_topic = len(w.claim_keys())
    reader.page, reader.breaks, reader.pages = 25, 1, []
    await w.ingest(ev)  # resumed: scans from the checkpoint's offsets
    keys = [k for k, v in w.producer.records(CLAIMS.topic) if b"long.csv" in v]
    assert len(keys) == len(set(keys)) == 600  # nothing duplicated, nothing lost
    assert max(reader.pages) <= 25  # memory holds one page of 25 records, not the whole range
    # Every record from the checkpoint to the end is read once, plus the one page read again after the break:
    assert sum(reader.pages) == (on_topic - since) + 25


async def test_a_first_attempt_never_scans_the_topics_for_what_it_produced_itself() -> None:
    w = World(window=40, chunk_size=900)
    reader = w.fanout.context.reader
    assert isinstance(reader, FakeReader)
    await w.ingest(w.put("pharmacy_claims/other.csv", samples.csv_bytes("pharmacy_claims", 300, 0.0, seed=23)))
    reader.pages = []
    ev = w.put("pharmacy_claims/fresh.csv", samples.csv_bytes("pharmacy_claims", 600, 0.0, seed=24))
    await w.ingest(ev)  # many steps and checkpoints, one attempt
    keys = [k for k, v in w.producer.records(CLAIMS.topic) if b"fresh.csv" in v]
    assert len(keys) == len(set(keys)) == 600
    assert reader.pages == []  # it read nothing back: before, every split scanned from its first checkpoint
