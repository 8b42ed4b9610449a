"""Each service of the local stack is the real thing: Kafka, PostgreSQL, and S3+SQS with notifications."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any
from urllib.parse import unquote_plus

import aioboto3
import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from psycopg import sql

from devstack import stack as devstack
from devstack.provision import Provisioned, provision
from devstack.settings import AwsNames, StackSettings
from devstack.stack import Endpoints


async def test_a_topic_made_with_the_admin_client_carries_a_message(stack: Endpoints, unique: str) -> None:
    topic = f"smoke-{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name=topic, num_partitions=3, replication_factor=1)])
        assert topic in await admin.list_topics()
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"k1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=stack.kafka_bootstrap_servers, group_id=f"g-{unique}", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"k1", b"hello")


async def test_postgres_round_trips_sql(stack: Endpoints, unique: str) -> None:
    table = sql.Identifier(f"t_{unique}")
    async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
        await conn.execute(sql.SQL("CREATE TEMP TABLE {} (id int PRIMARY KEY, note text)").format(table))
        await conn.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s), (%s, %s)").format(table), (1, "one", 2, "two"))
        cur = await conn.execute(sql.SQL("SELECT note FROM {} ORDER BY id").format(table))
        assert [row[0] for row in await cur.fetchall()] == ["one", "two"]
        version = await (await conn.execute("SHOW server_version_num")).fetchone()
    assert version is not None
    assert int(version[0]) // 10000 == 15


def _names(unique: str, **kw: Any) -> AwsNames:
    return replace(AwsNames(), bucket=f"drop-{unique}", queue=f"events-{unique}", dlq=f"dlq-{unique}", **kw)


async def _drain(sqs: Any, url: str, want: int, wait_s: int = 5, rounds: int = 4) -> list[dict[str, Any]]:
    """Receive until `want` messages arrived or `rounds` long polls came back empty."""
    got: list[dict[str, Any]] = []
    empty = 0
    while len(got) < want and empty < rounds:
        resp = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s)
        batch = resp.get("Messages", [])
        empty = 0 if batch else empty + 1
        got += batch
        for msg in batch:
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    return got


def _object_keys(messages: list[dict[str, Any]]) -> list[str]:
    """S3 object keys named by ObjectCreated records; s3:TestEvent messages have no Records."""
    keys = []
    for msg in messages:
        body = json.loads(msg["Body"])
        records = body.get("Records", [])
        # S3 form-encodes keys in notifications ("/" arrives as %2F from moto, " " as "+").
        keys += [unquote_plus(r["s3"]["object"]["key"]) for r in records if r["eventName"].startswith("ObjectCreated")]
    return keys


async def test_a_csv_upload_notifies_the_queue_and_a_txt_upload_does_not(stack: Endpoints, unique: str) -> None:
    made = provision(stack.aws, _names(unique))
    session = aioboto3.Session()
    kw = stack.aws.client_kwargs()
    async with session.client("s3", **kw) as s3, session.client("sqs", **kw) as sqs:
        await _drain(sqs, made.queue_url, want=1, wait_s=1, rounds=1)  # the s3:TestEvent of provisioning
        await s3.put_object(Bucket=made.bucket, Key="notes.txt", Body=b"not a csv")
        await s3.put_object(Bucket=made.bucket, Key="pharmacy_claim.csv", Body=b"claim_id\nC1\n")
        await s3.put_object(Bucket=made.bucket, Key="audit_records/a.csv.gz", Body=b"\x1f\x8b")
        messages = await _drain(sqs, made.queue_url, want=3, wait_s=2, rounds=2)
    assert sorted(_object_keys(messages)) == ["audit_records/a.csv.gz", "pharmacy_claim.csv"]


async def test_a_message_received_more_than_max_receive_count_moves_to_the_dlq(stack: Endpoints, unique: str) -> None:
    made: Provisioned = provision(stack.aws, _names(unique, max_receive_count=2))
    session = aioboto3.Session()
    kw = stack.aws.client_kwargs()
    async with session.client("sqs", **kw) as sqs:
        await sqs.purge_queue(QueueUrl=made.queue_url)
        await sqs.send_message(QueueUrl=made.queue_url, MessageBody="poison")
        for _ in range(2):  # received, never deleted: the visibility timeout of 0 puts it straight back
            resp = await sqs.receive_message(QueueUrl=made.queue_url, WaitTimeSeconds=2, VisibilityTimeout=0)
            assert [m["Body"] for m in resp.get("Messages", [])] == ["poison"]
        third = await sqs.receive_message(QueueUrl=made.queue_url, WaitTimeSeconds=1)
        assert third.get("Messages", []) == []
        dead = await _drain(sqs, made.dlq_url, want=1, wait_s=2, rounds=2)
    assert [m["Body"] for m in dead] == ["poison"]


def test_a_second_up_reuses_every_healthy_service(stack: Endpoints, stack_settings: StackSettings) -> None:
    if stack_settings.backend != "local":
        return
    again = devstack.up(stack_settings)
    assert again.started == ()
    assert again.endpoints.kafka_bootstrap_servers == stack.kafka_bootstrap_servers
    assert [s.state for s in devstack.status(stack_settings)] == ["healthy", "healthy", "healthy"]
    env = stack_settings.env_file.read_text()
    names = [line.split("=", 1)[0].removeprefix("export ") for line in env.splitlines() if line.startswith("export ")]
    assert names == list(stack.env())
    standard = {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"}
    assert standard | {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "STREAMPROC_QUEUE_URL"} <= set(names)
