"""Claims are fenced in PostgreSQL: once another worker takes a lapsed claim over, every ledger write of the
stale split is refused (issue 16, defect 6)."""

from __future__ import annotations

import asyncio

import pytest

from devstack.harness import running_pipeline
from devstack.stack import Endpoints
from streamproc.ingest.ledger import Checkpoint, ClaimLost, Reject, SplitCounts


async def test_a_stale_worker_can_neither_checkpoint_nor_finish_nor_fail_a_file_another_worker_took_over(
    stack: Endpoints, unique: str
) -> None:
    async with running_pipeline(stack, unique, run_sinks=False) as h:
        event = await h.upload("pharmacy_claims/fenced.csv", b"claim_id\n")
        ledger = h.pipeline.ledger
        stale = await ledger.claim(event, "worker-a", lease=0.3)
        await ledger.checkpoint(stale.fence, Checkpoint(line=0, offsets={"t": {0: 5}}))
        await asyncio.sleep(0.6)  # worker-a is paused past its lease
        fresh = await ledger.claim(event, "worker-b", lease=0.3)
        assert (fresh.epoch, fresh.resume) == (stale.epoch + 1, Checkpoint(line=0, offsets={"t": {0: 5}}))
        counts = SplitCounts(dataset="pharmacy_claims", rows_read=3, rows_valid=3)
        for write in (
            ledger.heartbeat(stale.fence),
            ledger.checkpoint(stale.fence, Checkpoint(line=9)),
            ledger.record_rejects(stale.fence, [Reject(line=2, stage="split", error_class="MalformedRow")]),
            ledger.finish_split(stale.fence, counts),
            ledger.fail_file(stale.fence, "stale failure", counts),
        ):
            with pytest.raises(ClaimLost, match=f"claim epoch {stale.epoch} was taken over"):
                await write
        await ledger.release(stale.fence)  # a stale release is a no-op: worker-b keeps its claim
        await ledger.heartbeat(fresh.fence)
        assert await ledger.finish_split(fresh.fence, SplitCounts(dataset="pharmacy_claims")) == "COMPLETED"
        with pytest.raises(ClaimLost):  # finished: even the claim's own fence writes nothing more
            await ledger.checkpoint(fresh.fence, Checkpoint(line=9))
        (row,) = await h.query("SELECT status, claim_epoch, error_summary, resume FROM ingest_files")
        rejects = await h.query("SELECT count(*) AS n FROM ingest_file_rejects")
    assert (row["status"], row["claim_epoch"], row["error_summary"], row["resume"]) == ("COMPLETED", 2, None, None)
    assert rejects == [{"n": 0}]
