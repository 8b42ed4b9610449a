"""A produce slower than the visibility timeout: the relay keeps its messages hidden, so none is redelivered."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pytest

from bridge.relay import Relay
from bridge.sqs import QueueUnavailable, Received
from bridge.visibility import Lease, VisibilityStats
from streamproc.kafka.producer import OutRecord
from streamproc.shared.delivery import Verdict
from tests.unit.bridge.test_bridge_relay import SETTINGS, FakeKafka, notification, run_until
from tests.unit.fakes import until


@dataclass
class _Message:
    message_id: str
    body: str
    visible_at: float = 0.0
    receives: int = 0
    handle: str = ""


class ClockQueue:
    """SQS's visibility rules on the event loop's clock: a received message is hidden for the timeout, then
    handed out again with a new receipt handle (the old one then goes stale); past `max_receives` it is
    redriven to `dlq`."""

    def __init__(self, *bodies: str, max_receives: int = 3) -> None:
        self.messages = {f"m{i}": _Message(f"m{i}", b) for i, b in enumerate(bodies)}
        self.max_receives = max_receives
        self.deleted: list[str] = []
        self.dlq: list[str] = []
        self.extensions: list[tuple[str, float]] = []  # (message id, loop time)
        self.refuse_changes = False  # SQS answers every change with Failed entries
        self._handles = itertools.count()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def resolve(self, ref: object) -> str:
        return "url"

    async def visibility_timeout(self, url: str) -> int:
        return 30

    async def receive(
        self, url: str, *, max_messages: int, wait_seconds: int, visibility_timeout: int | None = None
    ) -> list[Received]:
        await asyncio.sleep(0.01)
        now = asyncio.get_running_loop().time()
        out: list[Received] = []
        for message in [m for m in self.messages.values() if m.visible_at <= now][:max_messages]:
            if message.receives >= self.max_receives:
                self.dlq.append(message.message_id)
                del self.messages[message.message_id]
                continue
            message.receives += 1
            message.visible_at = now + (visibility_timeout or 30)
            message.handle = f"h{next(self._handles)}"
            out.append(
                Received(
                    message_id=message.message_id,
                    receipt_handle=message.handle,
                    body=message.body,
                    receive_count=message.receives,
                )
            )
        return out

    def _current(self, received: Received) -> _Message | None:
        message = self.messages.get(received.message_id)
        return message if message is not None and message.handle == received.receipt_handle else None

    async def delete(self, url: str, messages: Sequence[Received]) -> list[str]:
        for received in messages:
            self.messages.pop(received.message_id, None)
            self.deleted.append(received.message_id)
        return []

    async def change_visibility(self, url: str, messages: Sequence[Received], hidden_for: int) -> list[str]:
        now = asyncio.get_running_loop().time()
        failed = []
        for received in messages:
            message = self._current(received)
            if message is None or self.refuse_changes:
                failed.append(received.message_id)
                continue
            message.visible_at = now + hidden_for
            self.extensions.append((received.message_id, now))
        return failed


class SlowKafka(FakeKafka):
    """Acknowledges after `delay` seconds: a broker that is slow, not down."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def send_all(self, records: Sequence[OutRecord]) -> list[Verdict]:
        await asyncio.sleep(self.delay)
        return await super().send_all(records)


class FlakyQueue(ClockQueue):
    """The first `failures` ChangeMessageVisibilityBatch calls fail as a whole (SQS unreachable)."""

    def __init__(self, *bodies: str, failures: int) -> None:
        super().__init__(*bodies)
        self.failures = failures

    async def change_visibility(self, url: str, messages: Sequence[Received], hidden_for: int) -> list[str]:
        if self.failures > 0:
            self.failures -= 1
            msg = "SQS unreachable: ConnectTimeoutError"
            raise QueueUnavailable(msg)
        return await super().change_visibility(url, messages, hidden_for)


SLOW = replace(SETTINGS, pollers=2, visibility_timeout=1)  # extended every third of a second


async def test_a_produce_slower_than_the_visibility_timeout_is_extended_and_delivered_once() -> None:
    queue = ClockQueue(notification("slow.csv"), max_receives=2)
    kafka = SlowKafka(delay=2.5)  # 2.5 visibility timeouts: without extensions, received again at 1 s and 2 s
    relay = Relay(SLOW, sqs=queue, producer=kafka)
    task = asyncio.create_task(relay.run())
    await until(lambda: queue.deleted == ["m0"])
    await asyncio.sleep(1.2)  # longer than a visibility timeout: a copy in flight would show now
    relay.stop()
    await task
    assert relay.stats.received == 1
    assert [r.key for r in kafka.records] == [b"b/slow.csv"]
    assert queue.dlq == []
    assert len(queue.extensions) >= 5  # every ~0.33 s for 2.5 s
    assert relay.visibility.extended == len(queue.extensions)
    assert relay.visibility.as_dict() | {"extended": 0} == {"extended": 0, "stale": 0, "failed": 0}


async def test_extending_stops_once_the_message_is_deleted() -> None:
    queue = ClockQueue(notification("slow.csv"))
    relay = Relay(SLOW, sqs=queue, producer=SlowKafka(delay=0.8))
    task = asyncio.create_task(relay.run())
    await until(lambda: queue.deleted == ["m0"])
    seen = len(queue.extensions)
    await asyncio.sleep(0.8)
    relay.stop()
    await task
    assert seen >= 1
    assert len(queue.extensions) == seen


async def test_a_message_given_up_on_is_no_longer_extended_and_comes_back_after_its_timeout() -> None:
    queue = ClockQueue(notification("refused.csv"))
    kafka = SlowKafka(delay=0.5)
    kafka.refuse = {b"b/refused.csv"}
    relay = Relay(replace(SLOW, pollers=1), sqs=queue, producer=kafka)
    task = asyncio.create_task(relay.run())
    await until(lambda: relay.stats.errors >= 1)
    given_up = len(queue.extensions)
    kafka.refuse = set()
    await until(lambda: queue.deleted == ["m0"])
    relay.stop()
    await task
    assert queue.messages == {}
    assert relay.stats.received == 2  # received again only once its timeout ran out
    assert [e for e in queue.extensions[given_up:] if e[1] < queue.extensions[given_up][1]] == []


async def test_a_stale_receipt_handle_is_logged_and_dropped_never_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    queue = ClockQueue(notification("slow.csv"))
    queue.refuse_changes = True
    relay = Relay(SLOW, sqs=queue, producer=SlowKafka(delay=0.6))
    await run_until(relay, lambda: queue.deleted == ["m0"])
    assert (relay.visibility.extended, relay.visibility.stale) == (0, 1)  # refused once, then no longer tried
    assert "receipt handle no longer valid" in caplog.text


async def test_an_extension_call_that_fails_is_tried_again_at_the_next_tick() -> None:
    queue = FlakyQueue(notification("slow.csv"), failures=1)
    received = await queue.receive("url", max_messages=1, wait_seconds=0, visibility_timeout=1)
    stats = VisibilityStats()
    lease = Lease(queue, "url", received, hidden_for=1, stats=stats)
    await lease.extend()
    assert (stats.extended, stats.failed, lease.held) == (0, 1, ["m0"])
    await lease.extend()
    assert (stats.extended, stats.failed, lease.held) == (1, 1, ["m0"])
    lease.release(["m0"])
    await lease.extend()
    assert stats.extended == 1
