"""A file version is processed once: `reprocess` is the one way to run it again, and that changes no row;
the same S3 notification three times through the real queue and bridge is processed once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aioboto3

from devstack.deployment import Deployment, deployment
from devstack.stack import Endpoints
from streamproc.datasets import samples
from streamproc.ingest.ledger import FINAL
from streamproc.shared.settings import KafkaConnection
from tests.integration.cli_support import (
    cli,
    fingerprint,
    messages_on,
    wait_caught_up,
    wait_for_row,
)

KEY = "pharmacy_claims/once.csv"


def claims_sink(d: Deployment, unique: str) -> dict[str, str]:
    return {f"{d.env['STREAMPROC_APP_ID']}-sink-pharmacy_claims": f"{unique}.claims.pharmacy"}


async def test_reprocessing_a_loaded_file_changes_no_row_and_adds_an_attempt(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    kafka = KafkaConnection(bootstrap_servers=stack.kafka_bootstrap_servers)
    async with deployment(stack, unique, tmp_path) as d:
        d.start("bridge", "-m", "bridge")
        d.start("worker", "-m", "streamproc", "worker", "--loglevel=info")
        await d.upload(KEY, samples.csv_bytes("pharmacy_claims", 1200, 0.02, seed=51, prefix="R"))
        first = (await d.wait_finished([KEY], limit=180))[0]
        await wait_caught_up(kafka, claims_sink(d, unique))
        before = await fingerprint(d.database_url)
        done = await cli(d.env, "reprocess", f"s3://{d.aws.bucket}/{KEY}")
        assert done.returncode == 0, done.stderr
        again = await wait_for_row(
            d.database_url, KEY, lambda r: r["attempts"] == 2 and r["status"] in FINAL, "run a second time"
        )
        await wait_caught_up(kafka, claims_sink(d, unique))
        after = await fingerprint(d.database_url)
        unknown = await cli(d.env, "reprocess", f"s3://{d.aws.bucket}/pharmacy_claims/never.csv")
    assert f"re-emitted s3://{d.aws.bucket}/{KEY} version {first['version']} (PARTIAL after attempt 1)" in done.stdout
    assert "forced" in done.stdout
    for table in ("pharmacy_claims", "ingest_file_progress", "ingest_file_rejects"):
        assert after[table] == before[table], table
    counts = ("status", "rows_read", "rows_valid", "rows_rejected", "rows_loaded", "rows_dead_lettered", "event_time")
    assert {c: again[c] for c in counts} == {c: first[c] for c in counts}
    assert (first["attempts"], again["attempts"], again["duplicate_events"]) == (1, 2, 0)
    assert again["finished_at"] > first["finished_at"]
    assert unknown.returncode == 1
    assert "the ledger has no s3://" in unknown.stderr


async def the_notification(d: Deployment) -> str:
    """The S3 notification moto queued for the last upload: taken off the queue, its body kept."""
    session = aioboto3.Session()
    async with session.client("sqs", **d.stack.aws.client_kwargs()) as sqs:
        async with asyncio.timeout(60):
            while True:
                got = await sqs.receive_message(QueueUrl=d.aws.queue_url, WaitTimeSeconds=1, MaxNumberOfMessages=1)
                for message in got.get("Messages", []):
                    await sqs.delete_message(QueueUrl=d.aws.queue_url, ReceiptHandle=message["ReceiptHandle"])
                    if '"s3:TestEvent"' not in message["Body"]:
                        return str(message["Body"])


async def send(d: Deployment, body: str, times: int) -> None:
    session = aioboto3.Session()
    async with session.client("sqs", **d.stack.aws.client_kwargs()) as sqs:
        for _ in range(times):
            await sqs.send_message(QueueUrl=d.aws.queue_url, MessageBody=body)


async def test_one_notification_sent_three_times_is_processed_once_and_leaves_the_finished_row_untouched(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    kafka = KafkaConnection(bootstrap_servers=stack.kafka_bootstrap_servers)
    rows = 800
    async with deployment(stack, unique, tmp_path) as d:
        d.start("worker", "-m", "streamproc", "worker", "--loglevel=info")
        await d.upload(KEY, samples.csv_bytes("pharmacy_claims", rows, 0.0, seed=52, prefix="N"))
        body = await the_notification(d)
        await send(d, body, 1)
        d.start("bridge", "-m", "bridge")
        finished = (await d.wait_finished([KEY], limit=180))[0]
        await wait_caught_up(kafka, claims_sink(d, unique))
        await send(d, body, 2)
        skipped = await wait_for_row(d.database_url, KEY, lambda r: r["duplicate_events"] == 2, "skipped twice")
        on_topic = await messages_on(kafka, f"{unique}.claims.pharmacy")
        loaded = await d.count("pharmacy_claims")
    unchanged = ("status", "finished_at", "started_at", "attempts", "rows_read", "rows_loaded", "rows_dead_lettered")
    assert {c: skipped[c] for c in unchanged} == {c: finished[c] for c in unchanged}
    assert (finished["status"], finished["attempts"], finished["duplicate_events"]) == ("COMPLETED", 1, 0)
    assert skipped["duplicate_events"] == 2
    assert on_topic == rows
    assert loaded == rows
