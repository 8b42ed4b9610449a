"""Manifests that arrive by themselves: a data file whose dataset requires a manifest waits AWAITING_MANIFEST
(nothing published, its `ingest.objects` partition free for the next file); the manifest's own notification
hands the file's event to Kafka again, and so does the sweeper once the file has waited past
STREAMPROC_MANIFEST_WAIT_SECONDS (then it is HELD, manifest missing). A manifest whose data file never comes is
reported once (a warning and `streamproc_manifests_orphaned_total`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streamproc.contract.events import ENCODER, ObjectEvent
from streamproc.ingest.object_events import MANIFEST, MANIFEST_OVERDUE, event_of
from streamproc.ingest.ports import ManifestLedger
from streamproc.ingest.split_context import SplitContext
from streamproc.shared.delivery import confirm
from streamproc.shared.errors import TransientError

logger = logging.getLogger(__name__)


async def hand_again(ctx: SplitContext, rows: Sequence[Mapping[str, Any]], name: str) -> None:
    """Hand the object event of each ledger row to the objects topic again (unforced) and wait for Kafka's acks."""
    if not rows:
        return
    items = [(e.message_key.encode(), ENCODER.encode(e)) for e in (event_of(r, name) for r in rows)]
    topic = ctx.policy.objects_topic
    delivery = await ctx.producer.send(topic, items)
    try:
        await confirm(
            delivery, items, lambda again: ctx.producer.send(topic, again), patience=ctx.producer.ack_timeout,
            backoff=ctx.backoff(), what=f"{len(items)} object event(s) -> {topic}",
        )  # fmt: skip
    finally:
        delivery.abandon()


async def manifest_arrived(ctx: SplitContext, ledger: ManifestLedger | None, event: ObjectEvent, data_key: str) -> None:
    """A manifest's notification: recorded, and the file it describes handed to Kafka again if it awaits it."""
    if ledger is None:
        logger.info("s3://%s/%s: a manifest; no dataset waits for manifests here", event.bucket, event.key)
        return
    waiting = await ctx.retry(lambda: ledger.arrived(event.bucket, event.key, data_key, event.etag), "ledger manifest")
    await hand_again(ctx, waiting, MANIFEST)
    logger.info("s3://%s/%s: a manifest; %d file(s) awaiting it taken up", event.bucket, event.key, len(waiting))


@dataclass
class SweepStats:
    overdue: int = 0  # files handed again because their manifest did not come in time
    orphaned: int = 0  # manifests whose data file never came


class ManifestSweeper:
    """Every `every` s: hands overdue files again (they end HELD, manifest missing) and reports orphaned manifests."""

    def __init__(self, ctx: SplitContext, ledger: ManifestLedger, *, every: float) -> None:
        self.ctx, self.ledger, self.every = ctx, ledger, every
        self.stats = SweepStats()

    async def sweep(self) -> None:
        wait = self.ctx.policy.manifest_wait
        overdue = await self.ledger.overdue(wait)
        await hand_again(self.ctx, overdue, MANIFEST_OVERDUE)
        self.stats.overdue += len(overdue)
        for orphan in await self.ledger.orphans(wait):
            self.stats.orphaned += 1
            logger.warning(
                "manifest %d in bucket %s came %s and its data file has not come since (ledger: ingest_manifests)",
                orphan["id"], orphan["bucket"], orphan["received_at"].isoformat(),
            )  # fmt: skip

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.sweep()
            except TransientError as exc:
                logger.warning("manifest sweep: %s; trying again in %.0fs", exc, self.every)
            except Exception:  # a bug must not end the sweeps for the worker's lifetime
                logger.exception("manifest sweep failed unexpectedly; trying again in %.0fs", self.every)
            try:
                await asyncio.wait_for(stopping.wait(), self.every)
            except TimeoutError:
                continue
