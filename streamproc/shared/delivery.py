"""What became of records handed to the producer: one future per Kafka batch, a verdict per record (pure)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias, TypeVar

from streamproc.shared.errors import StreamprocError, TransientError
from streamproc.shared.retry import Backoff

logger = logging.getLogger(__name__)

T = TypeVar("T")

Verdict: TypeAlias = StreamprocError | None  # None: acknowledged
UNSENT = -1  # the batch number of a record never put in a batch (no batch has it)


class NotDelivered(TransientError):
    """Not acknowledged (yet): not handed over, cancelled, or no verdict in time."""


class Delivery:
    """The acknowledgements of one `Producer.send`: a future per Kafka batch, and each record's batch."""

    def __init__(self, translate: Callable[[BaseException], StreamprocError]) -> None:
        self._translate = translate
        self.batches: dict[int, asyncio.Future[Any]] = {}  # batch number -> its acknowledgement
        self.batch_of: list[int] = []  # per record, in the order given: its batch number
        self.error: StreamprocError | None = None  # why batches were left unsent

    def __len__(self) -> int:
        return len(self.batch_of)

    def account_for(self, count: int) -> None:
        """Give every one of the `count` records handed to the send a batch: those the send never reached (it
        stopped on an error) get one that was never handed over, so their verdict is `error` (not sent)."""
        self.batch_of.extend([UNSENT] * (count - len(self.batch_of)))

    async def settle(self, within: float | None) -> bool:
        """Wait for every batch's verdict, at most `within` seconds (None: as long as it takes). True if all came."""
        pending = [f for f in self.batches.values() if not f.done()]
        if pending:
            done, _ = await asyncio.wait(pending, timeout=within)
            return len(done) == len(pending)
        return True

    async def wait(self, within: float | None = None) -> None:
        """Return once every record is acknowledged; raise the first terminal verdict, else a transient one."""
        if not await self.settle(within):
            msg = f"Kafka unavailable: no acknowledgement within {within:.0f}s"
            raise NotDelivered(msg)
        errors = [e for e in self.verdicts() if e is not None]
        if errors:
            raise next((e for e in errors if not e.retriable), errors[0])

    def verdicts(self) -> list[Verdict]:
        """Per record: None (acknowledged) or why not (not yet, refused, or never sent)."""
        unsent = self.error or NotDelivered("Kafka unavailable: not sent")
        per_batch = {n: self._verdict(f) for n, f in self.batches.items()}
        return [per_batch.get(n, unsent) for n in self.batch_of]

    def next_offsets(self) -> dict[tuple[str, int], int]:
        """Per (topic, partition): the offset after this delivery's last acknowledged record there."""
        counts = Counter(self.batch_of)
        after: dict[tuple[str, int], int] = {}
        for number, future in self.batches.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                meta = future.result()  # the batch's RecordMetadata: topic, partition, base offset
                where = (meta.topic, meta.partition)
                after[where] = max(after.get(where, 0), meta.offset + counts[number])
        return after

    def abandon(self) -> None:
        """Nobody will look at these verdicts any more (the file failed): keep asyncio from warning about them."""
        for future in self.batches.values():
            future.add_done_callback(_retrieve)

    def unsent(self) -> list[int]:
        """Indexes (in the order given) of the records whose batch was never handed over."""
        return [i for i, n in enumerate(self.batch_of) if n not in self.batches]

    def _verdict(self, future: asyncio.Future[Any]) -> Verdict:
        if not future.done():
            future.add_done_callback(_retrieve)  # it may still land; nobody waits for it any more
            return NotDelivered("Kafka unavailable: not acknowledged in time")
        if future.cancelled():
            return NotDelivered("Kafka unavailable: produce cancelled")
        error = future.exception()
        return None if error is None else self._translate(error)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def confirm(
    delivery: Delivery,
    items: Sequence[T],
    resend: Callable[[Sequence[T]], Awaitable[Delivery]],
    *,
    patience: float,
    backoff: Backoff,
    what: str,
) -> None:
    """Return once every item of `delivery` is acknowledged; a terminal verdict raises.

    Items handed over but not acknowledged yet are awaited, never sent again (the idempotent producer
    retries them itself). Items never handed over, or whose batch failed on a transient error, are sent
    again after a backoff.
    """
    while True:
        if not await delivery.settle(patience):
            logger.warning("%s: no acknowledgement from Kafka within %.0fs; still waiting", what, patience)
            continue
        verdicts = delivery.verdicts()
        failed = [i for i, verdict in enumerate(verdicts) if verdict is not None]
        if not failed:
            return
        errors = [v for v in verdicts if v is not None]
        terminal = next((e for e in errors if not e.retriable), None)
        if terminal is not None:
            raise terminal
        delay = backoff.next()
        logger.warning(
            "%s: %d record(s) not delivered (%s); sending them again in %.1fs", what, len(failed), errors[0], delay
        )
        await asyncio.sleep(delay)
        items = [items[i] for i in failed]
        delivery = await resend(items)
