"""The relay's delivery rules with hand-written fakes for SQS and Kafka: no services, milliseconds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from bridge.relay import Relay
from bridge.settings import BridgeSettings
from bridge.sqs import Received
from streamproc.contract.events import DEAD_LETTER_DECODER, OBJECT_EVENT_DECODER
from streamproc.kafka.errors import KafkaUnavailable
from streamproc.kafka.producer import OutRecord
from streamproc.shared.delivery import Verdict
from streamproc.shared.settings import TopicSettings
from tests.unit.fakes import until

SETTINGS = BridgeSettings(
    topics=TopicSettings(objects="objects", deadletter="dead"),
    wait_seconds=0,
    pollers=2,
    backoff_initial=0.001,
    backoff_cap=0.01,
    stats_interval=0,
    create_topics=False,
)
TEST_EVENT = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})


def notification(*keys: str, event: str = "ObjectCreated:Put") -> str:
    records = [
        {"eventName": event, "eventTime": "2026-01-01T00:00:00Z", "s3": {"bucket": {"name": "b"}, "object": {"key": k}}}
        for k in keys
    ]
    return json.dumps({"Records": records})


class FakeQueue:
    """An in-memory queue: receive hands out what is not in flight; delete removes."""

    def __init__(self, *bodies: str) -> None:
        self.waiting = [
            Received(message_id=f"m{i}", receipt_handle=f"r{i}", body=b, receive_count=1) for i, b in enumerate(bodies)
        ]
        self.deleted: list[str] = []
        self.receives = 0
        self.queue_visibility = 30  # the queue's own VisibilityTimeout
        self.received_hidden_for: list[int | None] = []  # each receive's VisibilityTimeout

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def resolve(self, ref: object) -> str:
        return "url"

    async def visibility_timeout(self, url: str) -> int:
        return self.queue_visibility

    async def receive(
        self, url: str, *, max_messages: int, wait_seconds: int, visibility_timeout: int | None = None
    ) -> list[Received]:
        self.receives += 1
        self.received_hidden_for.append(visibility_timeout)
        batch, self.waiting = self.waiting[:max_messages], self.waiting[max_messages:]
        await asyncio.sleep(0.001)
        return batch

    async def delete(self, url: str, messages: Sequence[Received]) -> list[str]:
        self.deleted += [m.message_id for m in messages]
        return []

    async def change_visibility(self, url: str, messages: Sequence[Received], hidden_for: int) -> list[str]:
        return []


class FakeKafka:
    """Acknowledges every record unless `down`; keys listed in `refuse` always fail."""

    def __init__(self, refuse: Sequence[bytes] = ()) -> None:
        self.records: list[OutRecord] = []
        self.down = False
        self.refuse = set(refuse)
        self.gate: asyncio.Event | None = None  # when set up, send_all waits for it

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def probe(self) -> None:
        if self.down:
            raise KafkaUnavailable("down")

    async def send_all(self, records: Sequence[OutRecord]) -> list[Verdict]:
        if self.gate is not None:
            await self.gate.wait()
        results: list[Verdict] = []
        for record in records:
            if self.down or record.key in self.refuse:
                results.append(KafkaUnavailable("no ack"))
            else:
                self.records.append(record)
                results.append(None)
        return results


async def run_until(relay: Relay, done: Callable[[], bool]) -> None:
    task = asyncio.create_task(relay.run())
    await until(done)
    relay.stop()
    await task


async def test_events_are_produced_with_their_keys_and_every_message_is_deleted_after() -> None:
    queue = FakeQueue(
        notification("a b.csv", "c+d.csv"), TEST_EVENT, notification("x.csv", event="ObjectRemoved:Delete")
    )
    kafka = FakeKafka()
    relay = Relay(SETTINGS, sqs=queue, producer=kafka)
    await run_until(relay, lambda: len(queue.deleted) == 3)
    assert [(r.topic, r.key) for r in kafka.records] == [("objects", b"b/a b.csv"), ("objects", b"b/c d.csv")]
    assert [OBJECT_EVENT_DECODER.decode(r.value).key for r in kafka.records] == ["a b.csv", "c d.csv"]
    assert relay.stats.as_dict() == {
        "received": 3,
        "produced": 2,
        "test_events": 1,
        "ignored": 1,
        "dead_lettered": 0,
        "deleted": 3,
        "errors": 0,
    }


@pytest.mark.parametrize(
    ("configured", "queue_own", "hidden_for"),
    [
        (None, 45, 45),  # unset: the queue's own (Terraform's visibility_timeout_seconds), not a bridge default
        (None, 0, 2),  # a queue that hands messages straight back: held the least that prevents a duplicate
        (9, 45, 9),  # BRIDGE_VISIBILITY_TIMEOUT set: it wins
    ],
)
async def test_messages_are_received_hidden_for_the_queues_own_visibility_timeout_unless_one_is_configured(
    configured: int | None, queue_own: int, hidden_for: int
) -> None:
    queue = FakeQueue(notification("a.csv"))
    queue.queue_visibility = queue_own
    relay = Relay(replace(SETTINGS, visibility_timeout=configured), sqs=queue, producer=FakeKafka())
    await run_until(relay, lambda: queue.deleted == ["m0"])
    assert relay.hidden_for == hidden_for
    assert set(queue.received_hidden_for) == {hidden_for}


async def test_a_message_with_one_unacknowledged_record_is_not_deleted() -> None:
    queue = FakeQueue(notification("ok.csv"), notification("fine.csv", "refused.csv"))
    kafka = FakeKafka(refuse=[b"b/refused.csv"])
    relay = Relay(replace(SETTINGS, pollers=1), sqs=queue, producer=kafka)
    await run_until(relay, lambda: relay.stats.errors >= 1 and queue.receives >= 3)  # paused, probed, resumed
    assert queue.deleted == ["m0"]
    assert relay.stats.produced == 2  # ok.csv and fine.csv landed; refused.csv did not, so m1 stays


async def test_while_kafka_is_down_the_relay_stops_receiving_and_resumes_by_itself() -> None:
    queue = FakeQueue(notification("first.csv"))
    kafka = FakeKafka()
    kafka.down = True
    relay = Relay(replace(SETTINGS, pollers=3), sqs=queue, producer=kafka)
    task = asyncio.create_task(relay.run())
    await until(lambda: relay.stats.errors >= 1 and not relay.receiving)
    receives, errors = queue.receives, relay.stats.errors
    await until(lambda: relay.stats.errors >= errors + 5)  # probes failing with backoff
    assert queue.receives == receives
    assert queue.deleted == []
    queue.waiting += [Received(message_id="again", receipt_handle="r", body=notification("first.csv"), receive_count=2)]
    kafka.down = False
    await until(lambda: queue.deleted == ["again"])
    relay.stop()
    await task
    assert [r.key for r in kafka.records] == [b"b/first.csv"]


async def test_an_undecodable_body_becomes_a_dead_letter_and_is_then_deleted() -> None:
    queue = FakeQueue("{garbage")
    kafka = FakeKafka()
    relay = Relay(SETTINGS, sqs=queue, producer=kafka)
    await run_until(relay, lambda: queue.deleted == ["m0"])
    (record,) = kafka.records
    letter = DEAD_LETTER_DECODER.decode(record.value)
    assert (record.topic, record.key) == ("dead", b"s3-event-queue/m0")
    assert (letter.stage, letter.source_message_id) == ("bridge", "m0")
    assert letter.raw is not None
    assert "garbage" not in letter.raw
    assert letter.raw.startswith("unparsed body withheld: 8 bytes")
    assert relay.stats.dead_lettered == 1


async def test_stop_during_a_batch_lets_it_finish_producing_and_deleting() -> None:
    queue = FakeQueue(*(notification(f"{i}.csv") for i in range(30)))
    kafka = FakeKafka()
    kafka.gate = asyncio.Event()
    relay = Relay(replace(SETTINGS, pollers=1, max_messages=10), sqs=queue, producer=kafka)
    task = asyncio.create_task(relay.run())
    await until(lambda: queue.receives == 1)
    relay.stop()
    kafka.gate.set()
    await task
    assert len(kafka.records) == 10
    assert queue.deleted == [f"m{i}" for i in range(10)]
    assert len(queue.waiting) == 20
