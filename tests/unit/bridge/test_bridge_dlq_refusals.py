"""How the DLQ mirror treats refusals: content refused for good is bounded, a refusing queue is waited out."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec

from bridge.dlq_mirror import DlqMirror
from bridge.messages import DlqMessage
from bridge.settings import BridgeSettings, QueueRef
from bridge.sqs import QueueRejected, SendFailure


@dataclass(frozen=True)
class _Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class _RefusingSqs:
    """Refuses every message whose body contains `refuse` (per entry, for its content), accepts the rest;
    or, with `queue_gone` set, refuses every call as a missing queue until `queue_gone` is cleared."""

    def __init__(self, refuse: str, *, queue_gone: bool = False) -> None:
        self.refuse = refuse
        self.queue_gone = queue_gone
        self.accepted: list[DlqMessage] = []
        self.calls = 0
        self.tenth_call = asyncio.Event()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def resolve(self, ref: QueueRef) -> str:
        return ref.url or "url"

    async def send(self, url: str, messages: Sequence[DlqMessage]) -> list[SendFailure]:
        self.calls += 1
        if self.calls >= 10:
            self.tenth_call.set()
        if self.queue_gone:
            msg = "SQS rejected the request: QueueDoesNotExist"
            raise QueueRejected(msg, "QueueDoesNotExist")
        failed = [
            SendFailure(index=i, code="InvalidMessageContents", sender_fault=True)
            for i, m in enumerate(messages)
            if self.refuse in m.body
        ]
        refused = {f.index for f in failed}
        self.accepted += [m for i, m in enumerate(messages) if i not in refused]
        return failed


class _OneBatch:
    """The dead-letter topic with one batch on it: fetched once, then nothing; `committed` is set by the commit."""

    def __init__(self, records: Sequence[_Record]) -> None:
        self.records = list(records)
        self.offsets: dict[tuple[str, int], int] = {}
        self.committed = asyncio.Event()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def fetch(self, timeout_ms: int, max_records: int | None = None) -> list[_Record]:
        batch, self.records = self.records, []
        if not batch:
            await asyncio.sleep(0.01)
        return batch

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        self.offsets.update(offsets)
        self.committed.set()


def _mirror(sqs: _RefusingSqs, attempts: int, *bodies: str) -> tuple[DlqMirror, _OneBatch]:
    settings = BridgeSettings(backoff_initial=0.001, backoff_cap=0.001, dlq_max_attempts=attempts, create_topics=False)
    topic = _OneBatch(_records(*bodies))
    return DlqMirror(settings, sqs=sqs, consumer=topic), topic


async def _mirrored(mirror: DlqMirror, topic: _OneBatch) -> bool:
    """Run the mirror until its batch is committed (True), or 5 s; then stop it."""
    running = asyncio.create_task(mirror.run())
    try:
        await asyncio.wait_for(topic.committed.wait(), 5)
    finally:
        mirror.stop()
        await running
    return topic.committed.is_set()


def _records(*bodies: str) -> list[_Record]:
    letters = [msgspec.json.encode({"stage": "split", "reason": body}) for body in bodies]
    return [_Record("dead", 0, offset, b"k", value) for offset, value in enumerate(letters)]


async def test_a_message_refused_for_its_content_is_stood_in_for_after_the_attempts_and_the_rest_go_through() -> None:
    sqs = _RefusingSqs(refuse="POISON")
    mirror, topic = _mirror(sqs, 3, "fine", "POISON", "also fine")
    assert await _mirrored(mirror, topic)
    assert topic.offsets == {("dead", 0): 3}
    bodies = [m.body for m in sqs.accepted]
    assert sum("fine" in b for b in bodies) == 2
    (stand_in,) = [msgspec.json.decode(b) for b in bodies if "stand_in" in b]
    assert stand_in["source_offset"] == 1
    assert "InvalidMessageContents" in stand_in["reason"]
    assert (mirror.stats.stood_in, mirror.stats.abandoned, mirror.stats.sent) == (1, 0, 3)


async def test_a_stand_in_refused_too_is_given_up_on_and_counted() -> None:
    sqs = _RefusingSqs(refuse="")  # refuses everything, stand-ins included
    mirror, topic = _mirror(sqs, 2, "anything")
    assert await _mirrored(mirror, topic)
    assert topic.offsets == {("dead", 0): 1}
    assert (mirror.stats.stood_in, mirror.stats.abandoned, mirror.stats.sent) == (1, 1, 0)
    assert sqs.calls == 4  # two tries of the letter, two of its stand-in: bounded


async def test_a_queue_that_refuses_every_call_is_retried_until_it_is_back_never_given_up_on() -> None:
    sqs = _RefusingSqs(refuse="\x00never", queue_gone=True)
    mirror, topic = _mirror(sqs, 2, "a", "b")
    running = asyncio.create_task(mirror.run())
    await asyncio.wait_for(sqs.tenth_call.wait(), 5)
    assert not topic.committed.is_set()
    assert mirror.stats.stood_in == 0
    sqs.queue_gone = False
    await asyncio.wait_for(topic.committed.wait(), 5)
    mirror.stop()
    await running
    assert topic.offsets == {("dead", 0): 2}
    assert [msgspec.json.decode(m.body)["reason"] for m in sqs.accepted] == ["a", "b"]
    assert (mirror.stats.stood_in, mirror.stats.abandoned, mirror.stats.sent) == (0, 0, 2)
