"""What a resumed split finds already on Kafka: the last line of its file on each partition of its topic and
among its dead letters, read from the checkpoint's offsets one page at a time (memory holds one page)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence

import msgspec

from streamproc.contract.events import DEAD_LETTER_DECODER, ObjectEvent
from streamproc.datasets.model import Dataset
from streamproc.ingest.ledger import Checkpoint
from streamproc.ingest.parsing import Parsed, RejectedRow, ValidRow
from streamproc.ingest.split_context import SplitContext
from streamproc.shared.delivery import Delivery
from streamproc.shared.partitioning import partition_for

logger = logging.getLogger(__name__)


class Frontier:
    """The last line of this file found on each partition of its topic (and among its dead letters)."""

    def __init__(self, partitions: int, rows: dict[int, int], letters: int) -> None:
        self.partitions = partitions
        self.rows = rows
        self.letters = letters
        self.top = max([letters, *rows.values()])

    @classmethod
    def nothing(cls) -> Frontier:
        """A first attempt's: no line of the file was on Kafka before it (unseen keeps every item)."""
        return cls(0, {}, 0)

    @classmethod
    async def read(cls, fan: SplitContext, e: ObjectEvent, checkpoint: Checkpoint, dataset: Dataset) -> Frontier:
        version = (e.bucket, e.key, e.version)
        rows: dict[int, int] = {}
        letters = 0

        def row(partition: int, value: bytes) -> None:
            with contextlib.suppress(msgspec.DecodeError):
                p = dataset.text_decoder.decode(value).provenance
                if (p.bucket, p.key, p.version) == version:
                    rows[partition] = max(rows.get(partition, 0), p.line)

        def letter(_partition: int, value: bytes) -> None:
            nonlocal letters
            with contextlib.suppress(msgspec.DecodeError):
                dead = DEAD_LETTER_DECODER.decode(value)
                if (dead.bucket, dead.key, dead.version) == version and dead.line:
                    letters = max(letters, dead.line)

        await _scan(fan, dataset.topic, checkpoint.offsets.get(dataset.topic, {}), row)
        await _scan(fan, fan.letters.topic, checkpoint.offsets.get(fan.letters.topic, {}), letter)
        count = len(await fan.end_offsets(dataset.topic))
        top = max([letters, *rows.values()])
        logger.info("s3://%s/%s: resuming; records up to line %d were already on Kafka", e.bucket, e.key, top)
        return cls(count, rows, letters)

    def unseen(self, items: list[Parsed]) -> list[Parsed]:
        """The items not already on Kafka from an earlier attempt."""
        if items[0].line > self.top:
            return items
        rows, count = self.rows, self.partitions
        return [
            item
            for item in items
            if item.line > self.top
            or (isinstance(item, ValidRow) and item.line > rows.get(partition_for(item.key, count), 0))
            or (isinstance(item, RejectedRow) and item.line > self.letters)
        ]


async def _scan(fan: SplitContext, topic: str, since: dict[int, int], visit: Callable[[int, bytes], None]) -> None:
    """Visit every record of `topic` from `since` to the end it had when the scan began, one page at a time;
    after a transient error the scan goes on from the last record visited."""
    until = await fan.end_offsets(topic)
    position = dict(since)
    seen = 0

    async def pages() -> None:
        nonlocal seen
        async for page in fan.reader.read(topic, position, until):
            for partition, offset, value in page:
                visit(partition, value)
                position[partition] = offset + 1
            seen += len(page)

    await fan.retry(pages, f"resume scan of {topic}")
    if seen:
        logger.info("resume scan of %s: %d records read", topic, seen)


def advance(checkpoint: Checkpoint, line: int, settled: Sequence[Delivery]) -> Checkpoint:
    """The checkpoint once every line up to `line` is acknowledged: each partition's offset moved past what the
    settled deliveries put there."""
    offsets = {topic: dict(parts) for topic, parts in checkpoint.offsets.items()}
    for delivery in settled:
        for (topic, partition), after in delivery.next_offsets().items():
            parts = offsets.setdefault(topic, {})
            parts[partition] = max(parts.get(partition, 0), after)
    return Checkpoint(line=line, offsets=offsets)
