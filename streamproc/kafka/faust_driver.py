"""Faust's aiokafka transport, with topic creation that survives a broker being down while the worker starts.

Faust creates its topics at start-up (the objects topic, the assignor's leader topic). Upstream, it asks the first
broker of the cluster metadata which node is the controller, without checking that broker is reachable, and any
error ends the worker: with one broker of three down, a starting worker exited with NodeNotReadyError (seed 1644
of the chaos run, docs/chaos.md). Here the controller comes from a metadata request that aiokafka sends to the
brokers in turn, skipping any that do not answer, and a creation that meets an unreachable or changing
controller is tried again for `CREATE_PATIENCE` seconds before the error is let through.

It also rewinds, after a rebalance, the partitions the group never committed. Faust drops the records it fetched
while a rebalance was under way (the flow stopped, or the generation changed) and counts on "seek to committed" to
read them again, but aiokafka's `seek_to_committed` seeks only partitions whose committed offset is above 0: on one
never committed, the position stayed past the dropped records and they were never processed. A notification
produced during the first rebalance of a new group was lost so, and the group committed past it (seed 1644 of the
chaos run, `ingest.objects` partition 1 offset 0). `seek_to_committed_or_start` seeks those partitions to offset 0
as well; with the app's `auto_offset_reset="earliest"`, an offset 0 that retention removed resets to the oldest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError, NodeNotReadyError, RequestTimedOutError
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

from streamproc.shared.logs import describe
from streamproc.shared.retry import Backoff

logger = logging.getLogger(__name__)

CREATE_PATIENCE = 120.0  # seconds a topic creation keeps trying while brokers come and go
# What a creation meets while a broker is down or the controller moves; upstream raises a bare RuntimeError("Invalid
# controller: ...") for NOT_CONTROLLER (aiokafka's errors derive from RuntimeError too).
_PASSING = (NodeNotReadyError, KafkaConnectionError, RequestTimedOutError, RuntimeError)


async def seek_to_committed_or_start(consumer: AIOKafkaConsumer) -> dict[TopicPartition, int | None]:
    """Seek every assigned partition to its committed offset, and to offset 0 those with none or 0 (aiokafka's own
    `seek_to_committed` leaves their position where it is); the committed offsets, as aiokafka returns them."""
    committed: dict[TopicPartition, int | None] = await consumer.seek_to_committed()
    for tp, offset in committed.items():
        if offset is None or offset <= 0:
            consumer.seek(tp, 0)
    return committed


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    # Faust annotates this Mapping[TP, int], yet upstream's values are None for a partition never committed, and
    # Faust's perform_seek relies on that (None resets the partition's read offset): hence the override ignore.
    async def seek_to_committed(self) -> Mapping[TP, int | None]:  # type: ignore[override]  # faust says int; values can be None
        committed: Mapping[TP, int | None] = await self.call_thread(self._seek_to_committed_or_start)
        return committed

    async def _seek_to_committed_or_start(self) -> Mapping[TP, int | None]:
        committed = await seek_to_committed_or_start(self._ensure_consumer())
        return {TP(tp.topic, tp.partition): offset for tp, offset in committed.items()}


class Consumer(driver.Consumer):
    """Faust's aiokafka consumer, seeking uncommitted partitions back to the start after a rebalance."""

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(driver.Transport):
    """`kafka://` as upstream, but topic creation skips brokers that are down and retries while they come back,
    and a rebalance reads again what it dropped on partitions the group has not committed yet."""

    Consumer = Consumer

    create_patience: float = CREATE_PATIENCE

    async def _get_controller_node(self, owner: Any, client: Any, *_: Any, **__: Any) -> int | None:
        # Upstream's `timeout` goes unused: aiokafka bounds each request by the client's request timeout.
        del owner
        try:
            cluster = await client.fetch_all_metadata()  # tries every known broker, skips those that fail
        except KafkaError as exc:
            raise NodeNotReadyError(str(exc)) from exc
        controller = cluster.controller
        if controller is None:
            msg = "no broker named a controller"
            raise NodeNotReadyError(msg)
        return int(controller.nodeId)

    async def _really_create_topic(self, owner: Any, client: Any, topic: str, *args: Any, **kwargs: Any) -> None:
        backoff, give_up = Backoff(0.5, 5.0), time.monotonic() + self.create_patience
        while True:
            try:
                await super()._really_create_topic(owner, client, topic, *args, **kwargs)
            except _PASSING as exc:
                foreign = not isinstance(exc, KafkaError) and not str(exc).startswith("Invalid controller")
                if foreign or owner.should_stop or time.monotonic() >= give_up:
                    raise
                delay = backoff.next()
                logger.warning("creating topic %s: %s; trying again in %.1fs", topic, describe(exc), delay)
                await asyncio.sleep(delay)
            else:
                return
