"""Read a topic's partitions without a consumer group: assign, seek, read, stop. Nothing is ever committed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from streamproc.kafka.errors import translate
from streamproc.kafka.reader import close_groupless, open_groupless
from streamproc.kafka.resets import UnknownTopic
from streamproc.shared.settings import KafkaConnection


@dataclass(frozen=True, slots=True)
class Event:
    """One record as read."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


class TailReader:
    """A group-less aiokafka consumer for `tail`: `async with TailReader(conn) as reader:`."""

    def __init__(self, conn: KafkaConnection, *, timeout: float = 30.0) -> None:
        self._conn = conn
        self._timeout = timeout
        self._consumer: Any = None
        self._metadata: Any = None

    async def __aenter__(self) -> TailReader:
        self._consumer, self._metadata = await open_groupless(
            self._conn, client_id="streamproc-tail", request_timeout_ms=int(self._timeout * 1000)
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        consumer, metadata, self._consumer, self._metadata = self._consumer, self._metadata, None, None
        await close_groupless(consumer, metadata)

    async def bounds(self, topic: str) -> dict[int, tuple[int, int]]:
        """Per partition of `topic`: (first offset in the log, offset after the last record)."""
        try:
            # The consumer's own metadata cache learns of a topic only once it is assigned or subscribed.
            cluster = await self._metadata.fetch_all_metadata()
            if topic not in cluster.topics():
                msg = f"the cluster has no topic {topic}"
                raise UnknownTopic(msg)
            tps = [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
            starts = await self._consumer.beginning_offsets(tps)
            ends = await self._consumer.end_offsets(tps)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise translate(exc) from exc
        return {tp.partition: (starts[tp], ends[tp]) for tp in tps}

    async def read(
        self, topic: str, starts: Mapping[int, int], ends: Mapping[int, int] | None, stop: asyncio.Event
    ) -> AsyncIterator[Event]:
        """Records from `starts` on, in offset order per partition: up to `ends` (None: until `stop` is set)."""
        consumer = self._consumer
        left = {p: end for p, end in (ends or {}).items() if p in starts and starts[p] < end}
        chosen = list(starts) if ends is None else list(left)
        consumer.assign([TopicPartition(topic, p) for p in chosen])
        for p in chosen:
            consumer.seek(TopicPartition(topic, p), starts[p])
        while (ends is None or left) and not stop.is_set():
            try:
                batches = await consumer.getmany(timeout_ms=500)
            except KafkaError as exc:
                raise translate(exc) from exc
            for tp, records in batches.items():
                for r in records:
                    if ends is not None and r.offset >= left.get(tp.partition, -1):
                        break
                    yield Event(topic, tp.partition, r.offset, r.timestamp, r.key, r.value)
            for p in list(left):  # also those with nothing left to fetch (the end is a gap, e.g. compacted)
                tp = TopicPartition(topic, p)
                if await consumer.position(tp) >= left[p]:
                    del left[p]
                    consumer.pause(tp)
