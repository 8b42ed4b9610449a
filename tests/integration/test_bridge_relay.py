"""The relay on the real stack: S3 uploads → SQS → `ingest.objects`, test events, bursts, hostile keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import aioboto3

from bridge import bootstrap
from devstack.stack import Endpoints
from streamproc.contract.events import OBJECT_EVENT_DECODER
from tests.integration.test_bridge_support import (
    bridge_settings,
    consume,
    consume_keys,
    eventually,
    provision_unique,
    queue_depth,
    running,
    topic_size,
    upload,
)

BODY = b"claim_id,ndc\nC1,00002143380\n"


async def test_an_upload_becomes_one_event_with_every_field_right(stack: Endpoints, unique: str) -> None:
    made = provision_unique(stack, unique)
    settings = bridge_settings(stack, made, unique)
    relay = bootstrap.relay(settings)
    session = aioboto3.Session()
    kw = stack.aws.client_kwargs()
    async with session.client("s3", **kw) as s3, session.client("sqs", **kw) as sqs, running(relay):
        await s3.put_object(Bucket=made.bucket, Key="pharmacy_claim.csv", Body=BODY)
        head = await s3.head_object(Bucket=made.bucket, Key="pharmacy_claim.csv")
        (record,) = await consume(stack.kafka_bootstrap_servers, settings.topics.objects, want=1)
        await eventually(lambda: relay.stats.deleted == 2, "the test event and the upload's message deleted")
        assert await queue_depth(sqs, made.queue_url) == 0
    event = OBJECT_EVENT_DECODER.decode(record.value)
    assert record.key == f"{made.bucket}/pharmacy_claim.csv".encode()
    assert (event.bucket, event.key, event.size) == (made.bucket, "pharmacy_claim.csv", len(BODY))
    assert event.etag == head["ETag"].strip('"')
    assert event.event_name == "ObjectCreated:Put"
    assert event.event_time.tzinfo is not None
    assert event.event_time <= datetime.now(UTC)
    # moto's notifications carry neither; the hand-made notification below and the unit tests cover both.
    assert (event.version_id, event.sequencer) == (None, None)
    assert relay.stats.as_dict() == {
        "received": 2,
        "produced": 1,
        "test_events": 1,
        "ignored": 0,
        "dead_lettered": 0,
        "deleted": 2,
        "errors": 0,
    }


async def test_an_s3_test_event_is_deleted_without_an_event(stack: Endpoints, unique: str) -> None:
    made = provision_unique(stack, unique)  # configuring the notification sends s3:TestEvent
    settings = bridge_settings(stack, made, unique)
    relay = bootstrap.relay(settings)
    session = aioboto3.Session()
    async with session.client("sqs", **stack.aws.client_kwargs()) as sqs, running(relay):
        await eventually(lambda: relay.stats.test_events == 1, "the test event")
        await eventually(lambda: relay.stats.deleted == 1, "the test event deleted")
        assert await queue_depth(sqs, made.queue_url) == 0
    assert await topic_size(stack.kafka_bootstrap_servers, settings.topics.objects, 3) == 0
    assert relay.stats.produced == 0


async def test_an_sns_wrapped_notification_and_an_object_removed_record_are_handled(
    stack: Endpoints, unique: str
) -> None:
    made = provision_unique(stack, unique)
    settings = bridge_settings(stack, made, unique)
    relay = bootstrap.relay(settings)
    record = {
        "eventVersion": "2.2",
        "eventTime": "2026-03-04T05:06:07.890Z",
        "eventName": "ObjectCreated:CompleteMultipartUpload",
        "s3": {
            "bucket": {"name": made.bucket},
            "object": {"key": "sns/a+b.csv", "size": 9, "eTag": "e9", "versionId": "v1", "sequencer": "00AB"},
        },
    }
    removed = {**record, "eventName": "ObjectRemoved:Delete"}
    sns = {"Type": "Notification", "Message": json.dumps({"Records": [record, removed]})}
    session = aioboto3.Session()
    async with session.client("sqs", **stack.aws.client_kwargs()) as sqs, running(relay):
        await sqs.send_message(QueueUrl=made.queue_url, MessageBody=json.dumps(sns))
        (kafka_record,) = await consume(stack.kafka_bootstrap_servers, settings.topics.objects, want=1)
        await eventually(lambda: relay.stats.ignored == 1, "the ObjectRemoved record counted")
    event = OBJECT_EVENT_DECODER.decode(kafka_record.value)
    assert (event.key, event.size, event.etag, event.version_id, event.sequencer) == (
        "sns/a b.csv",
        9,
        "e9",
        "v1",
        "00AB",
    )
    assert event.event_name == "ObjectCreated:CompleteMultipartUpload"
    assert event.event_time == datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


async def test_twenty_five_uploads_in_quick_succession_make_events_for_exactly_those_keys(
    stack: Endpoints, unique: str
) -> None:
    made = provision_unique(stack, unique)
    settings = bridge_settings(stack, made, unique)
    relay = bootstrap.relay(settings)
    keys = [f"burst/file-{i:02d}.csv" for i in range(25)]
    session = aioboto3.Session()
    kw = stack.aws.client_kwargs()
    async with session.client("s3", **kw) as s3, session.client("sqs", **kw) as sqs, running(relay):
        await upload(s3, made.bucket, keys)
        wanted = {f"{made.bucket}/{k}".encode() for k in keys}
        records = await consume_keys(stack.kafka_bootstrap_servers, settings.topics.objects, wanted)
        await eventually(lambda: relay.stats.deleted >= 26, "every message deleted")
        assert await queue_depth(sqs, made.queue_url) == 0
    # SQS delivers at least once: every key arrives, nothing else does; a redelivery may add a duplicate.
    assert sorted({OBJECT_EVENT_DECODER.decode(r.value).key for r in records}) == keys
    assert await topic_size(stack.kafka_bootstrap_servers, settings.topics.objects, 3) >= 25
    assert relay.stats.produced >= 25


HOSTILE_KEYS = [
    "with space.csv",
    "plus+sign.csv",
    "percent%20literal.csv",
    "100%.csv",
    "dir/sub dir/x+y%z.csv",
    "unicode/été 字 🙂.csv",
    "  leading and trailing  .csv",
    "~!@#$^&*()=[]{};',.csv",
    "a%2Fb.csv",
    "tab\tand\u00a0nbsp.csv",
]


async def test_hostile_keys_round_trip_exactly(stack: Endpoints, unique: str) -> None:
    made = provision_unique(stack, unique)
    settings = bridge_settings(stack, made, unique)
    relay = bootstrap.relay(settings)
    session = aioboto3.Session()
    async with session.client("s3", **stack.aws.client_kwargs()) as s3, running(relay):
        await upload(s3, made.bucket, HOSTILE_KEYS)
        wanted = {f"{made.bucket}/{k}".encode() for k in HOSTILE_KEYS}
        records = await consume_keys(stack.kafka_bootstrap_servers, settings.topics.objects, wanted)
        events = [OBJECT_EVENT_DECODER.decode(r.value) for r in records]
        for event in events:  # the key in the event is the key S3 stores: it fetches the object
            got = await s3.get_object(Bucket=event.bucket, Key=event.key)
            async with got["Body"] as stream:
                assert await stream.read() == b"claim_id\nC1\n"
    # At least once each (SQS may redeliver), and exactly these keys: the set round-trips exactly.
    assert sorted({e.key for e in events}) == sorted(HOSTILE_KEYS)
    assert {r.key for r in records} == wanted
