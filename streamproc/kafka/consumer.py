"""The one batch consumer of both services: a group member with manual commits, commit-after-work.

The caller fetches a batch, finishes its work (database commit, SQS accepted), then commits the
batch's offsets. A commit refused after a rebalance (`CommitRejected`) means the batch will be read
again by the partitions' next owner, so the work must be idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from streamproc.kafka.errors import CommitRejected, KafkaRejected, KafkaUnavailable, translate
from streamproc.kafka.members import leave_static
from streamproc.shared.records import ConsumedRecord, TopicPart
from streamproc.shared.settings import KafkaConnection

logger = logging.getLogger(__name__)

RebalanceHook = Callable[[set[TopicPart]], Awaitable[None]]


async def _ignore(_: set[TopicPart]) -> None:
    return None


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # upstream gap: aiokafka ships no type information
    def __init__(self, assigned: RebalanceHook, revoked: RebalanceHook) -> None:
        self._assigned = assigned
        self._revoked = revoked

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._revoked({(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._assigned({(tp.topic, tp.partition) for tp in assigned})


class BatchConsumer:
    """A member of `group_id` reading `topics` from the earliest uncommitted offset; nothing auto-commits."""

    def __init__(
        self,
        conn: KafkaConnection,
        topics: Sequence[str],
        group_id: str,
        *,
        max_records: int = 500,
        on_assigned: RebalanceHook = _ignore,
        on_revoked: RebalanceHook = _ignore,
        **options: Any,
    ) -> None:
        """`options` go to aiokafka as they are (fetch sizes, session timeout, group_instance_id, ...)."""
        self._conn = conn
        self._topics = tuple(topics)
        self._group_id = group_id
        self._max_records = max_records
        self._listener = _Listener(on_assigned, on_revoked)
        self._options = options
        self._consumer: AIOKafkaConsumer | None = None

    @property
    def group_id(self) -> str:
        return self._group_id

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            **self._conn.client_kwargs(),
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._max_records,
            **self._options,
        )
        consumer.subscribe(list(self._topics), listener=self._listener)
        try:
            await consumer.start()
        except (KafkaError, OSError, TimeoutError) as exc:
            await consumer.stop()
            raise translate(exc) from exc
        except asyncio.CancelledError:
            await consumer.stop()
            raise
        self._consumer = consumer

    async def stop(self) -> None:
        """Stop; a static member (group_instance_id) also leaves its group, which it would not do by itself."""
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        await consumer.stop()
        instance = self._options.get("group_instance_id")
        if instance:
            try:
                await leave_static(self._conn, self._group_id, [instance])
            except (KafkaUnavailable, KafkaRejected) as exc:
                logger.warning("group %s: could not leave (%s); its session expires on its own", self._group_id, exc)

    def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            msg = "Kafka unavailable: consumer not started"
            raise KafkaUnavailable(msg)
        return self._consumer

    async def fetch(self, timeout_ms: int, max_records: int | None = None) -> list[ConsumedRecord]:
        """Up to max_records records, in offset order per partition; [] when none arrived in time."""
        try:
            batches = await self._started().getmany(timeout_ms=timeout_ms, max_records=max_records or self._max_records)
        except KafkaError as exc:
            raise translate(exc) from exc
        if len(batches) == 1:
            return list(next(iter(batches.values())))
        return [r for records in batches.values() for r in records]

    async def commit(self, offsets: Mapping[TopicPart, int]) -> None:
        """Commit `offsets` (the next offset to read, per partition); CommitRejected after a rebalance."""
        if not offsets:
            return
        try:
            await self._started().commit({TopicPartition(t, p): o for (t, p), o in offsets.items()})
        except (CommitFailedError, IllegalStateError) as exc:
            msg = f"commit refused after a rebalance: {type(exc).__name__}"
            raise CommitRejected(msg) from exc
        except KafkaError as exc:
            raise translate(exc) from exc

    def assignment(self) -> set[TopicPart]:
        consumer = self._consumer
        return set() if consumer is None else {(tp.topic, tp.partition) for tp in consumer.assignment()}

    def highwater(self, where: TopicPart) -> int | None:
        """The partition's end offset as of the last fetch (None before the first)."""
        consumer = self._consumer
        return None if consumer is None else consumer.highwater(TopicPartition(*where))
