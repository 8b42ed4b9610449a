"""What the README promises of the sinks, on the real stack: an offset reset and a consumer-group rebalance
leave exactly the same rows and ledger counts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from devstack.harness import Harness, running_pipeline
from devstack.stack import Endpoints
from streamproc.adapters.row_store import RowStore
from streamproc.contract.events import ENCODER
from streamproc.datasets import samples
from streamproc.datasets.model import Dataset
from streamproc.ingest.ledger import LoadBatch, RowRef
from streamproc.ingest.sink import SinkConsumer
from streamproc.ingest.split_context import Position
from streamproc.kafka.groups import GroupAdmin
from streamproc.kafka.resets import ToEarliest, plan_reset
from tests.integration.test_bridge_support import eventually, topic_size

CHECKSUM = (
    "SELECT count(*) AS n, md5(string_agg(claim_id || member_id || total_paid::text, ',' ORDER BY claim_id)) AS sum "
)


@asynccontextmanager
async def sink_running(sink: SinkConsumer) -> AsyncIterator[SinkConsumer]:
    stopping = asyncio.Event()
    task = asyncio.create_task(sink.run(stopping))
    try:
        yield sink
    finally:
        stopping.set()
        await asyncio.wait_for(task, 60)


async def table_state(h: Harness) -> tuple[Any, ...]:
    (table,) = await h.query(CHECKSUM + "FROM pharmacy_claims")
    (ledger,) = await h.query("SELECT rows_read, rows_loaded, rows_dead_lettered, status FROM ingest_files")
    return table["n"], table["sum"], tuple(ledger.values())


async def test_an_offset_reset_to_earliest_reloads_the_topic_and_changes_no_row(stack: Endpoints, unique: str) -> None:
    async with running_pipeline(stack, unique, run_sinks=False) as h:
        dataset = h.registry.by_name("pharmacy_claims")
        group = f"reset-{unique}"
        event = await h.upload("pharmacy_claims/r.csv", samples.csv_bytes("pharmacy_claims", 4000, 0.01, seed=50))
        await h.ingest(event)
        async with sink_running(h.pipeline.new_sink(dataset, group_id=group)):
            await h.wait_finished([event.key])
        before = await table_state(h)
        async with GroupAdmin(h.settings.kafka) as admin:
            plan = plan_reset(await admin.replay_state(group, [dataset.topic], ToEarliest()), ToEarliest())
            assert sum(p.new for p in plan.partitions) == 0 < sum(p.current or 0 for p in plan.partitions)
            await admin.apply(plan)
        replayed = h.pipeline.new_sink(dataset, group_id=group)
        async with sink_running(replayed):
            await eventually(lambda: replayed.stats.rows_written >= before[0], "the whole topic read again")
        after = await table_state(h)
    assert before[2][:2] == (4000, before[0])  # read 4000, loaded = the rows in the table
    assert after == before


class Unhurried:
    """The real row store, each batch held back a moment: sinks still have work when the group rebalances."""

    def __init__(self, rows: RowStore) -> None:
        self.rows = rows

    async def write_batch(self, dataset: Dataset, batch: LoadBatch) -> None:
        await asyncio.sleep(0.05)
        await self.rows.write_batch(dataset, batch)

    async def record_rejected(self, dataset: Dataset, topic: str, refs: Sequence[RowRef]) -> None:
        await self.rows.record_rejected(dataset, topic, refs)


async def test_a_second_sink_joining_and_the_first_leaving_mid_stream_lose_and_double_nothing(
    stack: Endpoints, unique: str
) -> None:
    async with running_pipeline(stack, unique, run_sinks=False) as h:
        dataset = h.registry.by_name("pharmacy_claims")
        group = f"rebalance-{unique}"
        event = await h.upload("pharmacy_claims/rb.csv", samples.csv_bytes("pharmacy_claims", 30_000, 0.0, seed=51))
        await h.ingest(event)
        store = Unhurried(h.pipeline.rows)
        first = h.pipeline.new_sink(dataset, group_id=group, batch_size=500, store=store)
        # Another worker's sink: its own static member id (one id twice would fence, not join).
        second = h.pipeline.new_sink(dataset, group_id=group, member=f"second-{unique}", batch_size=500, store=store)
        async with sink_running(first):
            await eventually(lambda: first.stats.batches >= 3, "the first sink writing")
            async with sink_running(second):
                await eventually(lambda: second.stats.batches >= 3, "the second sink given partitions")
                written_while_both = first.stats.rows_written
            (row,) = await h.wait_finished([event.key], limit=120)  # the first goes on alone after the second left
        state = await table_state(h)
    assert 0 < written_while_both < 30_000
    assert second.stats.rows_written > 0
    assert (row["status"], row["rows_read"], row["rows_loaded"]) == ("COMPLETED", 30_000, 30_000)
    assert state[0] == 30_000


async def test_two_workers_handed_the_same_event_at_once_split_the_file_once(stack: Endpoints, unique: str) -> None:
    async with running_pipeline(stack, unique) as h:
        first, second = h.pipeline.fanout, h.pipeline.new_fanout("another-worker")
        event = await h.upload("pharmacy_claims/twice.csv", samples.csv_bytes("pharmacy_claims", 3000, 0.0, seed=21))
        raw = ENCODER.encode(event)
        where = Position(h.settings.topics.objects, 0, 0)
        await asyncio.gather(first.handle(raw, where), second.handle(raw, where))
        (row,) = await h.wait_finished([event.key])
        topic = h.registry.by_name("pharmacy_claims").topic
        produced = await topic_size(stack.kafka_bootstrap_servers, topic, h.settings.topics.partitions)
    assert (row["status"], row["rows_loaded"], row["attempts"], row["duplicate_events"]) == ("COMPLETED", 3000, 1, 1)
    assert produced == 3000  # one split: the other worker waited for the claim, then skipped the finished version
    assert first.stats.duplicates + second.stats.duplicates == 1
