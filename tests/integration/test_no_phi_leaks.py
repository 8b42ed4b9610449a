"""No patient data leaks: unique markers planted in every cell of every kind of file never reach a log (bridge,
worker, Kafka, PostgreSQL, moto), the SQS dead-letter queue (bodies and attributes) or the file ledger."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from pathlib import Path
from typing import Any

import aioboto3

from devstack.deployment import Deployment, deployment
from devstack.settings import StackSettings
from devstack.stack import Endpoints
from streamproc.datasets import samples
from streamproc.ingest.ledger import FINAL, HELD

MARKER = re.compile(r"(PHI|UNRECOG|HEADLESS|MALFORMED)[A-Z]*\d+Z", re.IGNORECASE)  # headers are lower-cased


def csv_text(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def claims(count: int, member: str, *, break_column: str | None = None) -> list[list[str]]:
    """Generated claims whose member_id (PHI) is a marker; optionally each row breaks a rule in another column."""
    header = list(samples.CLAIM_HEADER)
    rows = [header]
    for n, row in enumerate(samples.rows("pharmacy_claims", count, 0.0, seed=40 + len(member))):
        row[1] = f"{member}{n:04d}Z"
        if break_column is not None:
            row[header.index(break_column)] = "400"
        rows.append(row)
    return rows


def files() -> dict[str, bytes]:
    invalid = claims(10, "PHIBAD", break_column="days_supply")
    invalid.append([*invalid[1][:1], "PHILONGMEMBERIDTHATBREAKSTHELENGTHRULE0001Z", *invalid[1][2:]])  # PHI field bad
    marked = [[f"UNRECOG{r}{c}0Z" for c in range(4)] for r in range(3)]
    headless = [[f"HEADLESS{r}{c}0Z" for c in range(15)] for r in range(3)]
    malformed = [list(samples.CLAIM_HEADER), ["MALFORMED10Z", "PHIMAL0001Z", "MALFORMED20Z"]]
    doses = [["tally_id", "doses", "patient_id"], *([f"T{i}", "1", f"PHIDOSE{i:04d}Z"] for i in range(8))]
    doses.append(["T-big", "40000", "PHIDOSEBIG0001Z"])  # smallint overflow: PostgreSQL refuses the row
    return {
        "pharmacy_claims/valid.csv": csv_text(claims(20, "PHIVALID")),
        "pharmacy_claims/invalid.csv": csv_text(invalid),
        "misc/unrecognised.csv": csv_text(marked),
        "pharmacy_claims/headerless.csv": csv_text(headless),
        "headerless_at_root.csv": csv_text(headless),
        "pharmacy_claims/malformed.csv": csv_text(malformed) + b'"MALFORMED30Z,PHIMAL0002Z\n',
        "dose_tallies/overflow.csv": csv_text(doses),
    }


async def drain_dlq(d: Deployment, want: int, limit: float = 60.0) -> list[dict[str, Any]]:
    """Every message the DLQ mirror delivered (waits until `want` arrived), bodies and attributes."""
    got: list[dict[str, Any]] = []
    session = aioboto3.Session()
    async with session.client("sqs", **d.stack.aws.client_kwargs()) as sqs, asyncio.timeout(limit):
        while len(got) < want:
            response = await sqs.receive_message(
                QueueUrl=d.aws.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
            )
            for message in response.get("Messages", []):
                got.append(message)
                await sqs.delete_message(QueueUrl=d.aws.dlq_url, ReceiptHandle=message["ReceiptHandle"])
    return got


async def read_receipts(d: Deployment, want: int, limit: float = 60.0) -> list[bytes]:
    """Every receipt the worker wrote under receipts/ (waits until `want` are there)."""
    session = aioboto3.Session()
    async with session.client("s3", **d.stack.aws.client_kwargs()) as s3, asyncio.timeout(limit):
        while True:
            listed = await s3.list_objects_v2(Bucket=d.aws.bucket, Prefix="receipts/")
            keys = [o["Key"] for o in listed.get("Contents", [])]
            if len(keys) >= want:
                break
            await asyncio.sleep(0.5)
        return [await (await s3.get_object(Bucket=d.aws.bucket, Key=k))["Body"].read() for k in keys]


def stack_logs() -> str:
    return "".join(p.read_text(errors="replace") for p in StackSettings.from_env().log_dir.glob("*.log"))


async def test_markers_in_every_cell_never_reach_logs_dead_letter_queue_or_ledger(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    bodies = files()
    extra = "tests.datasets.dose_tallies"
    async with deployment(stack, unique, tmp_path, STREAMPROC_EXTRA_DATASETS=extra, STREAMPROC_CONTROLS="true") as d:
        d.start("bridge", "-m", "bridge")
        d.start("worker", "-m", "streamproc", "worker", "--loglevel=info")
        for key, body in bodies.items():
            await d.upload(key, body)
        ended = (*FINAL, HELD)  # the files with every row bad are over the seed's error budget: HELD
        ledger = {r["key"]: r for r in await d.wait_finished(sorted(bodies), limit=180, statuses=ended)}
        expected_letters = sum(r["rows_dead_lettered"] for r in ledger.values()) + sum(
            r["status"] == "FAILED" for r in ledger.values()
        )
        dlq = await drain_dlq(d, expected_letters)
        rejects = await d.query("SELECT * FROM ingest_file_rejects")
        receipts = await read_receipts(d, len(bodies))
        stored = await d.query("SELECT member_id FROM pharmacy_claims ORDER BY member_id")
        worker_and_bridge = d.log_text()

    # The files did what they should, so the search below covers every path.
    assert {k: r["status"] for k, r in ledger.items()} == {
        "pharmacy_claims/valid.csv": "COMPLETED",
        "pharmacy_claims/invalid.csv": "HELD",
        "misc/unrecognised.csv": "FAILED",
        "pharmacy_claims/headerless.csv": "FAILED",
        "headerless_at_root.csv": "FAILED",
        "pharmacy_claims/malformed.csv": "HELD",
        "dose_tallies/overflow.csv": "PARTIAL",
    }
    assert ledger["dose_tallies/overflow.csv"]["rows_sink_rejected"] == 1
    assert len(dlq) == expected_letters >= 16
    assert [r["member_id"] for r in stored] == [
        f"PHIVALID{n:04d}Z" for n in range(20)
    ]  # markers do travel to the table
    assert "split done" in worker_and_bridge  # INFO lines are in the worker's log

    searched = {
        "worker and bridge logs": worker_and_bridge,
        "stack logs (Kafka, PostgreSQL, moto)": stack_logs(),
        "SQS DLQ bodies and attributes": repr(dlq),
        "ingest_files": repr(list(ledger.values())),
        "ingest_file_rejects": repr(rejects),
        "receipts for the senders": repr(receipts),
    }
    leaks = {where: sorted(set(m.group(0) for m in MARKER.finditer(text)))[:5] for where, text in searched.items()}
    assert {where: found for where, found in leaks.items() if found} == {}
