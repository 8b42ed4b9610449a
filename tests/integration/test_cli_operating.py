"""Operating the real pipeline from the command line: `upload` a folder of mixed files, then read what came of it
with `status` and `tail`, and as a downstream consumer (plain aiokafka) against the published JSON Schemas."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aioboto3
import pytest
from aiokafka import AIOKafkaConsumer
from botocore.exceptions import ClientError
from jsonschema import Draft202012Validator

from devstack.deployment import Deployment, deployment
from devstack.stack import Endpoints
from streamproc.datasets import samples
from streamproc.shared.settings import KafkaConnection
from tests.integration.cli_support import cli, wait_caught_up

CLAIMS = samples.csv_bytes("pharmacy_claims", 1000, 0.02, seed=61, prefix="U")
FILES = {
    "pharmacy_claims/claims.csv": CLAIMS,
    "audit_records/audit.csv.gz": gzip.compress(samples.csv_bytes("audit_records", 300, 0.0, seed=62, prefix="U")),
    "pharmacy_claim_seed.csv": samples.csv_bytes("pharmacy_claims", 50, 0.0, seed=63, prefix="S"),
    "misc/unknown.csv": b"colour,size\nred,1\n",
    "big/notes.csv": b"note,text\n" + b"".join(b"%07d,%s\n" % (i, b"x" * 92) for i in range(60_000)),  # 6 MB
}
EXPECTED = {
    "pharmacy_claims/claims.csv": "PARTIAL",
    "audit_records/audit.csv.gz": "COMPLETED",
    "pharmacy_claim_seed.csv": "COMPLETED",
    "misc/unknown.csv": "FAILED",
    "big/notes.csv": "FAILED",
}
MEMBER_IDS = {row["member_id"] for row in csv.DictReader(io.StringIO(CLAIMS.decode())) if len(row["member_id"]) > 4}


@dataclass
class Loaded:
    d: Deployment
    unique: str
    uploaded: Any
    rows: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
async def loaded(stack: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Loaded]:
    """A folder of five CSV files and a README uploaded with `upload`, every file finished and loaded."""
    unique = uuid.uuid4().hex[:10]
    tmp = tmp_path_factory.mktemp("operating")
    for key, body in {**FILES, "README.txt": b"not data\n"}.items():
        (tmp / "batch" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "batch" / key).write_bytes(body)
    async with deployment(stack, unique, tmp) as d:
        d.env["STREAMPROC_BUCKET"] = d.aws.bucket
        d.start("bridge", "-m", "bridge")
        d.start("worker", "-m", "streamproc", "worker", "--loglevel=info")
        uploaded = await cli(d.env, "upload", str(tmp / "batch"), "--part-size", "5")
        assert uploaded.returncode == 0, uploaded.stderr
        rows = {r["key"]: r for r in await d.wait_finished(list(FILES), limit=180)}
        app = d.env["STREAMPROC_APP_ID"]
        sinks = {f"{app}-sink-{name}": f"{unique}.{topic}" for name, topic in SINKS.items()}
        await wait_caught_up(KafkaConnection(bootstrap_servers=stack.kafka_bootstrap_servers), sinks)
        yield Loaded(d, unique, uploaded, rows)


SINKS = {"pharmacy_claims": "claims.pharmacy", "audit_records": "audit.records"}


async def test_uploading_a_folder_of_mixed_files_ends_with_each_files_ledger_row(loaded: Loaded) -> None:
    assert {key: row["status"] for key, row in loaded.rows.items()} == EXPECTED
    assert all(row["rows_read"] == row["rows_loaded"] + row["rows_dead_lettered"] for row in loaded.rows.values())
    out, err = loaded.uploaded.stdout, loaded.uploaded.stderr
    assert "5 file(s)" in out
    assert f"-> s3://{loaded.d.aws.bucket}/big/notes.csv (" in out
    assert ", 2 parts, ETag " in out
    assert "skipped" in err
    assert "README.txt: not .csv or .csv.gz" in err
    session = aioboto3.Session()
    async with session.client("s3", **loaded.d.stack.aws.client_kwargs()) as s3:
        big = await s3.head_object(Bucket=loaded.d.aws.bucket, Key="big/notes.csv")
        with pytest.raises(ClientError):
            await s3.head_object(Bucket=loaded.d.aws.bucket, Key="README.txt")
    assert big["ContentLength"] == len(FILES["big/notes.csv"])
    assert big["ETag"].strip('"').endswith("-2")


async def read_all(conn: KafkaConnection, topic: str) -> list[bytes]:
    """What a downstream consumer with plain aiokafka reads: every record of every partition, start to end."""
    consumer = AIOKafkaConsumer(topic, **conn.client_kwargs(), group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(60):
            while not consumer.assignment():  # the subscription is assigned every partition once metadata came
                await consumer.getmany(timeout_ms=100)
            ends = await consumer.end_offsets(list(consumer.assignment()))
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    values += [r.value for r in records]
    finally:
        await consumer.stop()
    return values


async def test_a_downstream_consumer_decodes_and_validates_every_event_of_every_topic(loaded: Loaded) -> None:
    conn = KafkaConnection(bootstrap_servers=loaded.d.stack.kafka_bootstrap_servers)
    published = await cli(loaded.d.env, "schema")
    assert published.returncode == 0, published.stderr
    schemas = json.loads(published.stdout)
    u = loaded.unique
    assert set(schemas) == {
        f"{u}.ingest.objects",
        f"{u}.claims.pharmacy",
        f"{u}.audit.records",
        f"{u}.ingest.deadletter",
    }
    seen = {}
    for topic, schema in schemas.items():
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        values = [json.loads(v) for v in await read_all(conn, topic)]
        for value in values:
            validator.validate(value)
        seen[topic] = values
    claims, audits = (loaded.rows[k] for k in ("pharmacy_claims/claims.csv", "audit_records/audit.csv.gz"))
    seed = loaded.rows["pharmacy_claim_seed.csv"]
    assert len(seen[f"{u}.claims.pharmacy"]) == claims["rows_valid"] + seed["rows_valid"]
    assert len(seen[f"{u}.audit.records"]) == audits["rows_valid"] == 300
    assert len(seen[f"{u}.ingest.deadletter"]) == claims["rows_rejected"] + 2  # the rows, and two unreadable files
    assert {v["key"] for v in seen[f"{u}.ingest.objects"]} == set(FILES)


async def test_tail_shows_row_events_with_phi_masked_unless_asked(loaded: Loaded) -> None:
    masked = await cli(loaded.d.env, "tail", "pharmacy_claims", "--from-beginning", "--limit", "5")
    unmasked = await cli(loaded.d.env, "tail", "claims.pharmacy", "--limit", "3", "--unmasked")
    letters = await cli(loaded.d.env, "tail", "deadletter", "--limit", "50")
    assert (masked.returncode, unmasked.returncode, letters.returncode) == (0, 0, 0)
    rows = [json.loads(line)["value"]["row"] for line in masked.stdout.splitlines()]
    assert len(rows) == 5
    assert {row["member_id"] for row in rows} == {"***"}
    assert all(json.loads(line)["value"]["row"]["member_id"] != "***" for line in unmasked.stdout.splitlines())
    assert len(letters.stdout.splitlines()) == loaded.rows["pharmacy_claims/claims.csv"]["rows_rejected"] + 2
    for text in (masked.stdout, letters.stdout):
        assert not [m for m in MEMBER_IDS if m in text]


async def test_status_lists_the_files_and_one_files_reject_reasons_without_values(loaded: Loaded) -> None:
    listing = await cli(loaded.d.env, "status", "--limit", "10")
    claims = loaded.rows["pharmacy_claims/claims.csv"]
    one = await cli(loaded.d.env, "status", f"s3://{loaded.d.aws.bucket}/pharmacy_claims/claims.csv")
    missing = await cli(loaded.d.env, "status", f"s3://{loaded.d.aws.bucket}/nothing.csv")
    assert (listing.returncode, one.returncode, missing.returncode) == (0, 0, 1)
    for key, status in EXPECTED.items():
        assert any(line.startswith(status) and line.endswith(f"/{key}") for line in listing.stdout.splitlines())
    read, loaded_rows, dead = claims["rows_read"], claims["rows_loaded"], claims["rows_dead_lettered"]
    assert f"PARTIAL (read {read} = loaded {loaded_rows} + dead-lettered {dead})" in one.stdout
    assert f"dead-letter reasons (first {dead} of {dead}; fields and rules, never values):" in one.stdout
    assert not [m for m in MEMBER_IDS if m in one.stdout]
    assert "the ledger has no s3://" in missing.stderr
