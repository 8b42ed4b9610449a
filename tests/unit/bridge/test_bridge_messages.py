"""Decoding S3 notifications and building dead letters and DLQ messages: pure, no services."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

import pytest

from bridge.messages import encode, truncate_utf8
from bridge.notifications import Failure, bridge_dead_letter, decode_body
from streamproc.contract.events import DEAD_LETTER_DECODER, OBJECT_EVENT_DECODER, ObjectEvent


def record(key: str = "pharmacy_claim.csv", event: str = "ObjectCreated:Put", **obj: Any) -> dict[str, Any]:
    """An S3 event record as AWS sends it, plus fields this decoder must ignore."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-01-02T03:04:05.678Z",
        "eventName": event,
        "userIdentity": {"principalId": "AWS:EXAMPLE"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "ingest-csv",
            "bucket": {"name": "drop", "arn": "arn:aws:s3:::drop", "ownerIdentity": {"principalId": "X"}},
            "object": {"key": key, **obj},
        },
    }


def body(*records: dict[str, Any]) -> str:
    return json.dumps({"Records": list(records)})


def sns(message: str) -> str:
    return json.dumps({"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:x", "Message": message})


def test_an_object_created_record_becomes_an_event_with_every_field() -> None:
    full = record(size=1234, eTag="abc123", versionId="v-9", sequencer="0055AED6DCD90281E5")
    decoded = decode_body(body(full))
    assert decoded.failures == ()
    assert decoded.events == (
        ObjectEvent(
            bucket="drop",
            key="pharmacy_claim.csv",
            size=1234,
            etag="abc123",
            version_id="v-9",
            sequencer="0055AED6DCD90281E5",
            event_name="ObjectCreated:Put",
            event_time=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        ),
    )
    assert decoded.events[0].message_key == "drop/pharmacy_claim.csv"


def test_size_etag_version_and_sequencer_may_be_absent() -> None:
    (event,) = decode_body(body(record())).events
    assert (event.size, event.etag, event.version_id, event.sequencer) == (None, None, None, None)


def test_unknown_fields_and_any_event_version_are_accepted() -> None:
    rec = record(size=1, extra={"nested": True})
    rec["eventVersion"] = "9.99"
    rec["glacierEventData"] = {"restoreEventData": {}}
    decoded = json.loads(body(rec))
    decoded["SomethingNew"] = 1
    assert len(decode_body(json.dumps(decoded)).events) == 1


def test_several_records_become_several_events_in_order() -> None:
    decoded = decode_body(body(record("a.csv"), record("b.csv"), record("c.csv")))
    assert [e.key for e in decoded.events] == ["a.csv", "b.csv", "c.csv"]


def test_an_s3_test_event_has_no_records_and_yields_no_event() -> None:
    test_event = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-01-01T00:00:00Z"})
    decoded = decode_body(test_event)
    assert decoded.test_event
    assert (decoded.events, decoded.failures, decoded.ignored) == ((), (), ())


def test_an_sns_envelope_is_unwrapped() -> None:
    decoded = decode_body(sns(body(record("in-sns.csv", size=3))))
    assert [(e.key, e.size) for e in decoded.events] == [("in-sns.csv", 3)]


def test_an_sns_wrapped_test_event_is_a_test_event() -> None:
    assert decode_body(sns(json.dumps({"Event": "s3:TestEvent"}))).test_event


def test_an_sns_envelope_around_garbage_is_a_failure_that_keeps_the_whole_body() -> None:
    outer = sns("not json at all")
    (failure,) = decode_body(outer).failures
    assert failure.raw == outer
    assert failure.reason.startswith("SNS message:")


def test_object_removed_and_other_event_types_are_ignored_and_named() -> None:
    decoded = decode_body(
        body(record("gone.csv", "ObjectRemoved:Delete"), record("new.csv"), record("x.csv", "ObjectRestore:Post"))
    )
    assert [e.key for e in decoded.events] == ["new.csv"]
    assert decoded.ignored == ("ObjectRemoved:Delete", "ObjectRestore:Post")


def test_an_event_name_with_the_s3_prefix_still_counts_as_created() -> None:
    assert len(decode_body(body(record(event="s3:ObjectCreated:CompleteMultipartUpload"))).events) == 1


@pytest.mark.parametrize(
    ("encoded", "key"),
    [
        ("a+b.csv", "a b.csv"),
        ("a%2Bb.csv", "a+b.csv"),
        ("100%25+done.csv", "100% done.csv"),
        ("dir%2Fsub+dir%2Fx.csv", "dir/sub dir/x.csv"),
        ("dir/plain/slash.csv", "dir/plain/slash.csv"),
        ("%C3%A9t%C3%A9+%E5%AD%97.csv", "été 字.csv"),
        ("%F0%9F%99%82.csv", "🙂.csv"),
        ("literal%252F.csv", "literal%2F.csv"),
    ],
)
def test_keys_are_decoded_with_unquote_plus(encoded: str, key: str) -> None:
    (event,) = decode_body(body(record(encoded))).events
    assert event.key == key
    assert event.message_key == f"drop/{key}"


@pytest.mark.parametrize(
    "key", ["a b+c%d.csv", "  leading and trailing  .csv", "~!@#$^&*()=[]{};',.csv", "é/字/🙂 x.csv"]
)
def test_hostile_keys_round_trip_through_s3_form_encoding(key: str) -> None:
    (event,) = decode_body(body(record(quote_plus(key, safe="")))).events
    assert event.key == key


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not json",
        "{",
        "[]",
        "42",
        "null",
        '"a string"',
        '{"foo": 1}',
        '{"Records": "x"}',
        '{"Type": "Notification"}',
    ],
)
def test_a_body_that_is_not_a_notification_is_a_failure_never_an_exception(garbage: str) -> None:
    decoded = decode_body(garbage)
    assert decoded.events == ()
    assert not decoded.test_event
    (failure,) = decoded.failures
    assert failure.raw == garbage
    assert failure.reason
    assert failure.error_class


def test_one_malformed_record_fails_alone_and_the_others_still_become_events() -> None:
    broken = {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "drop"}}}
    decoded = decode_body(body(record("good.csv"), broken))
    assert [e.key for e in decoded.events] == ["good.csv"]
    (failure,) = decoded.failures
    assert failure.reason.startswith("record 1:")
    assert json.loads(failure.raw) == broken


def test_an_empty_records_list_is_a_notification_with_nothing_to_do() -> None:
    assert decode_body('{"Records": []}') == decode_body('{"Records": []}')
    decoded = decode_body('{"Records": []}')
    assert (decoded.events, decoded.failures, decoded.test_event) == ((), (), False)


def test_an_event_encodes_to_the_wire_schema() -> None:
    (event,) = decode_body(body(record("x y.csv", size=5, eTag="e"))).events
    assert OBJECT_EVENT_DECODER.decode(encode(event)) == event


def test_a_bridge_dead_letter_names_the_queue_message_and_reason() -> None:
    failure = Failure(reason="undecodable body: bad", error_class="DecodeError", raw="{oops")
    letter = bridge_dead_letter(failure, queue="s3-event-queue", message_id="mid-1")
    assert (letter.stage, letter.retriable, letter.reason) == ("bridge", False, "undecodable body: bad")
    assert letter.message_key == "s3-event-queue/mid-1"
    assert DEAD_LETTER_DECODER.decode(encode(letter)) == letter


def test_a_bridge_dead_letter_never_carries_the_body_only_its_fingerprint() -> None:
    body = '{"member_id": "M-SECRET-42", ' + "é" * 300_000
    letter = bridge_dead_letter(Failure(reason="r", error_class="DecodeError", raw=body), queue="q", message_id="m")
    assert letter.raw is not None
    assert "M-SECRET-42" not in letter.raw
    assert "SECRET" not in letter.raw and "42" not in letter.raw.split("shape")[1]
    assert f"{len(body.encode())} bytes" in letter.raw
    assert hashlib.sha256(body.encode()).hexdigest() in letter.raw
    assert len(letter.raw) < 300


@pytest.mark.parametrize("limit", [0, 1, 5, 20, 64, 100])
def test_truncation_never_splits_a_character_and_never_exceeds_the_limit(limit: int) -> None:
    cut = truncate_utf8("a🙂" * 50, limit, "[{kept}/{total}]")
    assert len(cut.encode("utf-8")) <= max(limit, len("[0/250]"))
    assert cut.endswith("/250]")


def test_text_within_the_limit_is_unchanged() -> None:
    assert truncate_utf8("short", 5, "[cut]") == "short"


def test_decoding_imports_no_driver() -> None:
    probe = (
        "import sys, bridge.messages, bridge.notifications;"
        "loaded = {'aiokafka', 'aioboto3', 'botocore', 'faust', 'psycopg'} & set(sys.modules);"
        "sys.exit(sorted(loaded) or 0)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
