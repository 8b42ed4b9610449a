"""What `tail` shows (pure): which offsets to read, which events to keep, one JSON line per event with PHI masked."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

from streamproc.contract.events import DEAD_LETTER_DECODER, OBJECT_EVENT_DECODER
from streamproc.shared.phi import fingerprint, masked_row
from streamproc.shared.records import ConsumedRecord
from streamproc.topics.contract import TopicRef

Window = dict[int, tuple[int, int]]  # partition -> [first offset, end offset)


class Shown(ConsumedRecord, Protocol):
    """A record with its time, as `tail` shows it (streamproc.kafka.tail.Event fits)."""

    @property
    def timestamp_ms(self) -> int: ...


def window(bounds: Mapping[int, tuple[int, int]], limit: int | None, *, from_beginning: bool) -> Window:
    """Per partition, the offsets to read: the first or last `limit` of each (None: all of it).

    Any partition may hold the overall newest (or oldest) events, so each gives up to `limit`, and
    `pick` keeps the `limit` newest (or oldest) of them all.
    """
    chosen = {}
    for partition, (first, end) in bounds.items():
        if limit is None:
            chosen[partition] = (first, end)
        elif from_beginning:
            chosen[partition] = (first, min(end, first + limit))
        else:
            chosen[partition] = (max(first, end - limit), end)
    return chosen


def pick(events: Iterable[Shown], limit: int | None, *, from_beginning: bool) -> list[Shown]:
    """The oldest (or newest) `limit` events, in time order (ties: partition, offset)."""
    ordered = sorted(events, key=lambda e: (e.timestamp_ms, e.partition, e.offset))
    if limit is None:
        return ordered
    if limit == 0:
        return []
    return ordered[:limit] if from_beginning else ordered[-limit:]


def line(event: Shown, ref: TopicRef, *, unmasked: bool = False) -> str:
    """One event as a JSON object: where it is, when, its key and its value.

    Masked (the default), a value is shown only if it decodes as the topic's type, with the dataset's
    PHI fields of `row` replaced by ***; anything else shows as a fingerprint (length, digest, shape).
    """
    shown: dict[str, Any] = {
        "topic": event.topic,
        "partition": event.partition,
        "offset": event.offset,
        "timestamp": datetime.fromtimestamp(event.timestamp_ms / 1000, UTC).isoformat(timespec="milliseconds"),
        "key": None if event.key is None else event.key.decode("utf-8", "replace"),
    }
    shown |= _value(event.value, ref, unmasked=unmasked)
    return msgspec.json.encode(shown).decode()


def _value(raw: bytes | None, ref: TopicRef, *, unmasked: bool) -> dict[str, Any]:
    if raw is None:
        return {"value": None}
    if unmasked:
        try:
            return {"value": msgspec.json.decode(raw)}
        except msgspec.DecodeError:
            return {"value": None, "raw": raw.decode("utf-8", "replace")}
    try:
        value = msgspec.to_builtins(_decoder(ref).decode(raw))
    except msgspec.DecodeError:  # ValidationError too
        # Not the topic's type: nothing says which part of it is PHI, so show its shape only.
        return {"value": None, "undecodable": fingerprint(raw)}
    if ref.phi_fields:
        value["row"] = masked_row(value["row"], ref.phi_fields)
    return {"value": value}


def _decoder(ref: TopicRef) -> msgspec.json.Decoder[Any]:
    if ref.dataset is not None:
        return ref.dataset.event_decoder
    return OBJECT_EVENT_DECODER if ref.kind == "objects" else DEAD_LETTER_DECODER
