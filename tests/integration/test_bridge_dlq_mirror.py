"""Dead letters on the real stack: a malformed SQS body reaches the SQS DLQ via Kafka, with its attributes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aioboto3
import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bridge import bootstrap
from bridge.messages import SQS_MAX_BYTES, encode
from bridge.relay import bridge_topics
from devstack.stack import Endpoints
from streamproc.contract.events import DEAD_LETTER_DECODER, DeadLetter
from streamproc.kafka.admin import ensure_topics
from tests.integration.test_bridge_support import (
    bridge_settings,
    consume,
    eventually,
    provision_unique,
    queue_depth,
    running,
)


async def _receive_all(sqs: Any, url: str, want: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []

    async def enough() -> bool:
        resp = await sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        got.extend(resp.get("Messages", []))
        return len(got) >= want

    await eventually(enough, f"{want} message(s) in the SQS DLQ")
    return got


def _attributes(message: dict[str, Any]) -> dict[str, str]:
    return {name: spec["StringValue"] for name, spec in message.get("MessageAttributes", {}).items()}


async def test_a_malformed_sqs_body_is_dead_lettered_and_lands_in_the_sqs_dlq_with_its_attributes(
    stack: Endpoints, unique: str
) -> None:
    made = provision_unique(stack, unique)
    settings = bridge_settings(stack, made, unique)
    relay, mirror = bootstrap.relay(settings), bootstrap.mirror(settings)
    session = aioboto3.Session()
    async with session.client("sqs", **stack.aws.client_kwargs()) as sqs, running(relay, mirror):
        sent = await sqs.send_message(QueueUrl=made.queue_url, MessageBody="this is {not json")
        (record,) = await consume(stack.kafka_bootstrap_servers, settings.topics.deadletter, want=1)
        (mirrored,) = await _receive_all(sqs, made.dlq_url, want=1)
        await eventually(lambda: mirror.stats.committed == 1, "the mirror's commit")
        await eventually(lambda: relay.stats.deleted == 2, "the test event and the malformed message deleted")
        assert await queue_depth(sqs, made.queue_url) == 0
    letter = DEAD_LETTER_DECODER.decode(record.value)
    assert (letter.stage, letter.retriable) == ("bridge", False)
    assert letter.raw is not None
    assert letter.raw.startswith("unparsed body withheld: 17 bytes")
    assert "not json" not in mirrored["Body"]
    assert (letter.source_queue, letter.source_message_id) == (f"events-{unique}", sent["MessageId"])
    assert record.key == f"events-{unique}/{sent['MessageId']}".encode()
    assert mirrored["Body"] == record.value.decode()
    assert _attributes(mirrored) == {
        "reason": letter.reason,
        "error_class": letter.error_class,
        "retriable": "false",
        "stage": "bridge",
        "queue": f"events-{unique}",
        "message_id": sent["MessageId"],
    }
    assert relay.stats.dead_lettered == 1


async def test_the_mirror_truncates_an_oversized_dead_letter_and_mirrors_a_record_that_is_not_one(
    stack: Endpoints, unique: str
) -> None:
    made = provision_unique(stack, unique)
    settings = bridge_settings(stack, made, unique)
    await ensure_topics(settings.kafka, bridge_topics(settings))
    await _produce(
        stack.kafka_bootstrap_servers, settings.topics.deadletter, [encode(_big_letter(made.bucket)), b"\x00garbage"]
    )
    mirror = bootstrap.mirror(settings)
    session = aioboto3.Session()
    async with session.client("sqs", **stack.aws.client_kwargs()) as sqs, running(mirror):
        messages = await _receive_all(sqs, made.dlq_url, want=2)
        await eventually(lambda: mirror.stats.committed == 2, "the mirror's commit")
    by_reason = {_attributes(m)["reason"]: m for m in messages}
    truncated = by_reason["row failed validation"]
    assert len(truncated["Body"].encode()) < SQS_MAX_BYTES
    assert truncated["Body"].endswith("bytes kept]")
    assert _attributes(truncated)["key"] == "big.csv"
    assert _attributes(truncated)["line"] == "3"
    (junk,) = [m for reason, m in by_reason.items() if reason.startswith("dead-letter record is not a dead letter")]
    assert junk["Body"].startswith("unparsed body withheld: 8 bytes")
    assert (_attributes(junk)["topic"], _attributes(junk)["offset"]) == (settings.topics.deadletter, "1")
    assert mirror.stats.truncated == 1
    assert await _committed(stack.kafka_bootstrap_servers, settings.dlq_group, settings.topics.deadletter) == 2


def _big_letter(bucket: str) -> DeadLetter:
    return DeadLetter(
        stage="split",
        reason="row failed validation",
        error_class="ValidationError",
        retriable=False,
        occurred_at=datetime.now(UTC),
        dataset="pharmacy_claims",
        bucket=bucket,
        key="big.csv",
        line=3,
        source_topic="ingest.objects",
        source_partition=0,
        source_offset=5,
        raw="x" * (400 * 1024),
    )


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=2 << 20)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"k", partition=0)
    finally:
        await producer.stop()


async def _committed(bootstrap: str, group: str, topic: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        offset: int | None = await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()
    return offset


async def test_a_dead_letter_the_sqs_dlq_refuses_for_good_is_replaced_by_a_stand_in_and_holds_nothing_back(
    stack: Endpoints, unique: str
) -> None:
    made = provision_unique(stack, unique)
    settings = bridge_settings(stack, made, unique, dlq_max_attempts=3)
    await ensure_topics(settings.kafka, bridge_topics(settings))
    big = _big_letter(made.bucket)
    small = msgspec.structs.replace(big, key="small.csv", raw="short")
    # Offsets 0, 1, 2: a letter the queue's 1 KiB limit refuses sits between two it accepts.
    await _produce(
        stack.kafka_bootstrap_servers, settings.topics.deadletter, [encode(small), encode(big), encode(small)]
    )
    mirror = bootstrap.mirror(settings)
    session = aioboto3.Session()
    async with session.client("sqs", **stack.aws.client_kwargs()) as sqs:
        await sqs.set_queue_attributes(QueueUrl=made.dlq_url, Attributes={"MaximumMessageSize": "1024"})
        async with running(mirror):
            messages = await _receive_all(sqs, made.dlq_url, want=3)
            await eventually(lambda: mirror.stats.committed == 3, "the mirror's commit")
    (stand_in,) = [m for m in messages if _attributes(m).get("error_class") == "DlqRefused"]
    body = msgspec.json.decode(stand_in["Body"])
    assert body["stand_in"] is True
    assert (body["source_topic"], body["source_offset"]) == (settings.topics.deadletter, 1)  # where it stays
    assert body["reason"].startswith("SQS refused this dead letter (InvalidParameterValue)")
    assert "xxxxxxxxxx" not in stand_in["Body"]  # nothing of the refused letter but its coordinates
    others = [m for m in messages if m is not stand_in]
    assert [_attributes(m)["key"] for m in others] == ["small.csv", "small.csv"]
    assert (mirror.stats.stood_in, mirror.stats.abandoned, mirror.stats.sent) == (1, 0, 3)
    assert await _committed(stack.kafka_bootstrap_servers, settings.dlq_group, settings.topics.deadletter) == 3
