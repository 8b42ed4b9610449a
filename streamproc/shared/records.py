"""A consumed Kafka record as every stage sees it, and where it sits (pure): one definition for all of them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

TopicPart = tuple[str, int]


class ConsumedRecord(Protocol):
    """One record read from a topic (aiokafka's ConsumerRecord fits, so none is copied)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


def next_offsets(records: Iterable[ConsumedRecord]) -> dict[TopicPart, int]:
    """The offsets to commit after `records`: per partition, one past the last record."""
    offsets: dict[TopicPart, int] = {}
    for r in records:
        where = (r.topic, r.partition)
        if r.offset >= offsets.get(where, 0):
            offsets[where] = r.offset + 1
    return offsets
