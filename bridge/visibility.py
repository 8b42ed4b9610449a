"""Keeps received SQS messages invisible while the relay still owes them a produce or a delete."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from bridge.sqs import QueueError, Received

logger = logging.getLogger(__name__)

MIN_VISIBILITY = 2  # seconds; the least a received message is kept hidden (BRIDGE_VISIBILITY_TIMEOUT's floor)


def usable(seconds: int, queue: str) -> int:
    """A queue's own VisibilityTimeout, raised to MIN_VISIBILITY: with 0 or 1 s a message would be handed to
    the next receive while its produce is still pending (a duplicate, and a receive toward the redrive)."""
    if seconds < MIN_VISIBILITY:
        logger.warning(
            "relay: queue %s has a visibility timeout of %d s; its messages are received hidden for %d s",
            queue,
            seconds,
            MIN_VISIBILITY,
        )
        return MIN_VISIBILITY
    logger.info("relay: using queue %s's visibility timeout of %d s", queue, seconds)
    return seconds


class VisibilityPort(Protocol):
    """What the keeper needs from SQS (bridge.sqs.Sqs; a fake in unit tests)."""

    async def change_visibility(self, url: str, messages: Sequence[Received], hidden_for: int) -> list[str]: ...


@dataclass
class VisibilityStats:
    """Counters of the relay's visibility extensions since start (logged with the relay's counters)."""

    extended: int = 0  # message extensions SQS accepted
    stale: int = 0  # extensions refused for a stale receipt handle (another receive may own the message)
    failed: int = 0  # ChangeMessageVisibilityBatch calls that failed (retried at the next tick)

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class Lease:
    """The messages of one batch still held: extended by `timeout` every `every` seconds until released.

    Without it a produce slower than the queue's visibility timeout lets SQS hand the message to another
    receive while the first is still producing it: delivered twice, and every such cycle burns a receive
    toward the redrive limit, until the message lands in the SQS DLQ with no ledger row behind it."""

    def __init__(
        self, sqs: VisibilityPort, url: str, messages: Sequence[Received], *, hidden_for: int, stats: VisibilityStats
    ) -> None:
        self._sqs = sqs
        self._url = url
        self._hidden_for = hidden_for
        self._held = {m.message_id: m for m in messages}
        self.stats = stats

    @property
    def held(self) -> list[str]:
        return list(self._held)

    def release(self, message_ids: Iterable[str]) -> None:
        """Stop extending these (deleted, or given up and left to come back after their timeout)."""
        for message_id in message_ids:
            self._held.pop(message_id, None)

    async def run(self, every: float) -> None:
        while self._held:
            await asyncio.sleep(every)
            await self.extend()

    async def extend(self) -> None:
        """One ChangeMessageVisibilityBatch over what is held; a failure is logged, never raised."""
        messages = list(self._held.values())
        if not messages:
            return
        try:
            failed = set(await self._sqs.change_visibility(self._url, messages, self._hidden_for))
        except QueueError as exc:
            self.stats.failed += 1
            logger.warning("relay: extending the visibility of %d message(s) failed (%s)", len(messages), exc)
            return
        self.stats.extended += len(messages) - len(failed)
        for message_id in failed:
            # A stale receipt handle: the message became visible and another receive may own it now; this
            # copy can no longer be kept, so stop trying (its produce and delete go on; a duplicate is harmless).
            self.stats.stale += 1
            self._held.pop(message_id, None)
            logger.warning("relay: visibility of message %s not extended: receipt handle no longer valid", message_id)


@asynccontextmanager
async def held(
    sqs: VisibilityPort, url: str, messages: Sequence[Received], *, hidden_for: int, stats: VisibilityStats
) -> AsyncIterator[Lease]:
    """A Lease extending `messages` by `hidden_for` seconds every third of it, for the time of the block."""
    lease = Lease(sqs, url, messages, hidden_for=hidden_for, stats=stats)
    task = asyncio.create_task(lease.run(hidden_for / 3))
    try:
        yield lease
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
