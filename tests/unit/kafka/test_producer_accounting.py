"""Every record handed to `Producer.send` gets a verdict, whatever aiokafka raises part-way (issue 16, defect 1).

aiokafka's `send_batch` waits up to `request_timeout` for the partition's previous batch and then raises
KafkaTimeoutError; `partitions_for` can time out too. The fake client below is aiokafka's own BatchBuilder
behind a client that raises where told, so the batcher's real code runs.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.producer.message_accumulator import BatchBuilder

from streamproc.kafka import producer as producer_module
from streamproc.kafka.producer import Producer
from streamproc.shared.delivery import confirm
from streamproc.shared.retry import Backoff
from streamproc.shared.settings import KafkaConnection


@dataclass(frozen=True)
class _Meta:
    topic: str
    partition: int
    offset: int


class _Builder(BatchBuilder):  # type: ignore[misc]  # aiokafka ships no types: BatchBuilder is Any
    """aiokafka's BatchBuilder, keeping what it accepted (so the test knows what each batch carried)."""

    def __init__(self) -> None:
        super().__init__(200, 0)  # 200 bytes: a few records per batch, so one send makes many batches
        self.kept: list[tuple[bytes, bytes]] = []

    def append(self, *, timestamp: int | None, key: bytes, value: bytes) -> Any:
        meta = super().append(timestamp=timestamp, key=key, value=value)
        if meta is not None:
            self.kept.append((key, value))
        return meta


class _FlakyClient:
    """An AIOKafkaProducer stand-in: tiny batches; `send_batch` raises on the calls listed in `fail_on`."""

    instances: ClassVar[list[_FlakyClient]] = []  # what the test's Producer built
    fail_on: ClassVar[frozenset[int]] = frozenset()
    partitions_time_out: ClassVar[bool] = False

    def __init__(self, **_options: Any) -> None:
        self.calls = 0
        self.acked: list[tuple[bytes, bytes]] = []
        self.offsets: Counter[int] = Counter()
        _FlakyClient.instances.append(self)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def partitions_for(self, topic: str) -> set[int]:
        if _FlakyClient.partitions_time_out:
            raise KafkaTimeoutError
        return {0, 1, 2}

    def create_batch(self) -> _Builder:
        return _Builder()

    async def send_batch(self, builder: _Builder, topic: str, *, partition: int) -> asyncio.Future[_Meta]:
        self.calls += 1
        if self.calls in _FlakyClient.fail_on:
            raise KafkaTimeoutError  # aiokafka: the partition's previous batch was not drained in time
        records = builder.kept
        self.acked += records
        done: asyncio.Future[_Meta] = asyncio.get_running_loop().create_future()
        done.set_result(_Meta(topic, partition, self.offsets[partition]))
        self.offsets[partition] += len(records)
        return done


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> type[_FlakyClient]:
    monkeypatch.setattr(producer_module, "AIOKafkaProducer", _FlakyClient)
    _FlakyClient.instances, _FlakyClient.fail_on, _FlakyClient.partitions_time_out = [], frozenset(), False
    return _FlakyClient


def _items(n: int) -> list[tuple[bytes, bytes]]:
    return [(f"key-{i}".encode(), f"value-{i}".encode()) for i in range(n)]


async def _started() -> Producer:
    producer = Producer(KafkaConnection(bootstrap_servers="127.0.0.1:1"), ack_timeout=1.0)
    await producer.start()
    return producer


async def test_a_hand_over_that_times_out_part_way_leaves_a_verdict_for_every_record(flaky: type[_FlakyClient]) -> None:
    flaky.fail_on = frozenset({3})
    producer = await _started()
    items = _items(60)
    delivery = await producer.send("t", items)
    assert delivery.error is not None
    assert len(delivery) == len(items)  # every record accounted for, not only those before the failure
    verdicts = delivery.verdicts()
    acked = {items[i] for i, verdict in enumerate(verdicts) if verdict is None}
    assert acked == set(flaky.instances[0].acked)
    assert 0 < len(acked) < len(items)
    assert set(delivery.unsent()) == {i for i, verdict in enumerate(verdicts) if verdict is not None}


async def test_partitions_that_time_out_leave_every_record_unsent(flaky: type[_FlakyClient]) -> None:
    flaky.partitions_time_out = True
    producer = await _started()
    delivery = await producer.send("t", _items(5))
    assert delivery.error is not None
    assert len(delivery) == 5
    assert delivery.unsent() == [0, 1, 2, 3, 4]
    assert all(verdict is not None for verdict in delivery.verdicts())


async def test_confirm_sends_again_exactly_what_was_not_delivered_and_nothing_is_lost(
    flaky: type[_FlakyClient],
) -> None:
    flaky.fail_on = frozenset({2, 5})  # two hand-overs time out, in the first send and in the resend
    producer = await _started()
    items = _items(80)
    delivery = await producer.send("t", items)
    await confirm(
        delivery,
        items,
        lambda again: producer.send("t", again),
        patience=1.0,
        backoff=Backoff(0.001, 0.001),
        what="test",
    )
    assert Counter(flaky.instances[0].acked) == Counter(items)  # each record acknowledged exactly once
