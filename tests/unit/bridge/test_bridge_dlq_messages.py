"""SQS DLQ messages built from dead-letter records: attributes, limits, truncation; pure, no services."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from bridge.messages import (
    ATTRIBUTE_LIMIT,
    SQS_MAX_ATTRIBUTES,
    SQS_MAX_BATCH,
    SQS_MAX_BYTES,
    DlqMessage,
    batches,
    dlq_message,
    encode,
)
from streamproc.contract.events import DeadLetter, FieldError

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


BASE = DeadLetter(
    stage="split",
    reason="row failed validation",
    error_class="ValidationError",
    retriable=False,
    occurred_at=NOW,
    dataset="pharmacy_claims",
    bucket="drop",
    key="dir/a b.csv",
    version="etag-1",
    line=17,
    errors=(FieldError(field="ndc", rule="pattern", message="must be 11 digits"),),
    source_topic="ingest.objects",
    source_partition=2,
    source_offset=41,
    raw="C1,***,***",
)


def split_letter(**overrides: object) -> DeadLetter:
    return msgspec.structs.replace(BASE, **overrides)


def values(message: DlqMessage) -> dict[str, tuple[str, str]]:
    return {name: (spec["DataType"], spec["StringValue"]) for name, spec in message.attributes.items()}


def test_a_row_dead_letter_carries_where_and_why_as_attributes_and_itself_as_body() -> None:
    value = encode(split_letter())
    message = dlq_message(value, topic="ingest.deadletter", partition=0, offset=9)
    assert message.body == value.decode()
    assert not message.truncated
    assert values(message) == {
        "reason": ("String", "row failed validation"),
        "error_class": ("String", "ValidationError"),
        "retriable": ("String", "false"),
        "dataset": ("String", "pharmacy_claims"),
        "bucket": ("String", "drop"),
        "key": ("String", "dir/a b.csv"),
        "line": ("Number", "17"),
        "topic": ("String", "ingest.objects"),
        "partition": ("Number", "2"),
        "offset": ("Number", "41"),
    }
    assert len(message.attributes) <= SQS_MAX_ATTRIBUTES


def test_a_bridge_dead_letter_names_its_stage_queue_and_message() -> None:
    letter = DeadLetter(
        stage="bridge",
        reason="undecodable body",
        error_class="DecodeError",
        retriable=True,
        occurred_at=NOW,
        raw="{",
        source_queue="s3-event-queue",
        source_message_id="mid-1",
    )
    message = dlq_message(encode(letter), topic="ingest.deadletter", partition=0, offset=0)
    assert values(message) == {
        "reason": ("String", "undecodable body"),
        "error_class": ("String", "DecodeError"),
        "retriable": ("String", "true"),
        "stage": ("String", "bridge"),
        "queue": ("String", "s3-event-queue"),
        "message_id": ("String", "mid-1"),
    }


def test_a_body_over_the_sqs_limit_is_truncated_with_a_marker_never_dropped() -> None:
    message = dlq_message(encode(split_letter(raw="x" * (2 * SQS_MAX_BYTES))), topic="t", partition=0, offset=1)
    assert message.truncated
    assert message.size <= SQS_MAX_BYTES
    assert message.body.startswith('{"schema_version":1')
    assert message.body.endswith("bytes kept]")
    assert values(message)["reason"] == ("String", "row failed validation")


def test_a_record_that_is_not_a_dead_letter_is_mirrored_with_its_position_but_not_its_body() -> None:
    message = dlq_message(b"\xff not json M-SECRET", topic="ingest.deadletter", partition=3, offset=77)
    assert message.body.startswith("unparsed body withheld: 19 bytes, sha256 ")
    assert "SECRET" not in message.body
    attributes = values(message)
    assert attributes["reason"][1].startswith("dead-letter record is not a dead letter")
    assert (attributes["topic"], attributes["partition"], attributes["offset"]) == (
        ("String", "ingest.deadletter"),
        ("Number", "3"),
        ("Number", "77"),
    )


@pytest.mark.parametrize("value", [None, b""])
def test_an_empty_record_gets_a_placeholder_body_because_sqs_refuses_empty_ones(value: bytes | None) -> None:
    assert dlq_message(value, topic="t", partition=0, offset=0).body == "(empty dead-letter record)"


def test_characters_sqs_refuses_are_replaced_not_dropped() -> None:
    message = dlq_message(encode(split_letter(reason="bad\x00byte\x1f")), topic="t", partition=0, offset=0)
    assert values(message)["reason"] == ("String", "bad\ufffdbyte\ufffd")


def test_empty_values_are_left_out_and_long_ones_shortened() -> None:
    message = dlq_message(encode(split_letter(dataset="", reason="r" * 5000)), topic="t", partition=0, offset=0)
    attributes = values(message)
    assert "dataset" not in attributes
    assert len(attributes["reason"][1].encode()) <= ATTRIBUTE_LIMIT
    assert attributes["reason"][1].endswith("of 5000 bytes]")


def test_a_newer_dead_letter_schema_with_extra_fields_still_mirrors() -> None:
    value = encode(split_letter())[:-1] + b',"added_later":{"x":1}}'
    message = dlq_message(value, topic="t", partition=0, offset=0)
    assert values(message)["error_class"] == ("String", "ValidationError")


def test_batches_keep_order_and_respect_count_and_byte_limits() -> None:
    sizes = [1] * 23 + [SQS_MAX_BYTES // 2 + 1] * 3 + [5]
    groups = batches(sizes)
    assert [i for group in groups for i in group] == list(range(len(sizes)))
    assert all(len(group) <= SQS_MAX_BATCH for group in groups)
    assert all(sum(sizes[i] for i in group) <= SQS_MAX_BYTES for group in groups)
    assert batches([]) == []
