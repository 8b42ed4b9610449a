"""The fan-out and sink stages on the real stack: files in S3 become exact rows, ledger entries and dead letters."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime, timedelta
from typing import Any

import aioboto3
import msgspec
from aiokafka import AIOKafkaConsumer

from devstack.harness import Harness, running_pipeline
from devstack.stack import Endpoints
from streamproc.contract.events import DEAD_LETTER_DECODER, DeadLetter, ObjectEvent
from streamproc.datasets import samples
from tests.datasets import vaccinations

CLAIM_HEADER = ",".join(samples.CLAIM_HEADER)
GOOD_CLAIM = "C-1,M0000001,RX1,2026-01-05,12345-6789-01,Aspirin,30,30,1234567893,1234567893,10.00,1.50,2.00,9.50,PAID"


async def dead_letters(h: Harness, want: int, limit: float = 30.0) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(
        h.settings.topics.deadletter,
        bootstrap_servers=h.stack.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got: list[DeadLetter] = []
    try:
        async with asyncio.timeout(limit):
            while len(got) < want:
                batch = await consumer.getmany(timeout_ms=500)
                got += [DEAD_LETTER_DECODER.decode(r.value) for recs in batch.values() for r in recs]
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return got


def reconciled(row: dict[str, Any]) -> bool:
    return bool(row["rows_read"] == row["rows_loaded"] + row["rows_dead_lettered"])


async def test_a_claims_file_and_an_audit_file_become_exact_rows(stack: Endpoints, unique: str) -> None:
    async with running_pipeline(stack, unique) as h:
        claims = await h.upload("pharmacy_claims/batch1.csv", samples.csv_bytes("pharmacy_claims", 500, 0.0, seed=3))
        audits = await h.upload("audit_records/a1.csv", samples.csv_bytes("audit_records", 300, 0.0, seed=4))
        await h.ingest(claims)
        await h.ingest(audits)
        ledger = {r["key"]: r for r in await h.wait_finished([claims.key, audits.key])}
        assert ledger[claims.key]["status"] == "COMPLETED"
        assert ledger[audits.key]["status"] == "COMPLETED"
        assert (ledger[claims.key]["rows_read"], ledger[claims.key]["rows_loaded"]) == (500, 500)
        assert (ledger[audits.key]["rows_read"], ledger[audits.key]["rows_loaded"]) == (300, 300)
        assert all(reconciled(r) for r in ledger.values())
        assert (await h.query("SELECT count(*) AS n FROM pharmacy_claims"))[0]["n"] == 500
        assert (await h.query("SELECT count(*) AS n FROM audit_records"))[0]["n"] == 300
        first = (await h.query("SELECT * FROM pharmacy_claims WHERE claim_id = 'C-00000000'"))[0]
        assert (first["src_bucket"], first["src_key"], first["src_line"]) == (h.bucket, claims.key, 2)
        assert len(first["ndc"]) == 11


async def test_three_bad_rows_among_a_thousand_make_a_partial_file(stack: Endpoints, unique: str) -> None:
    lines = [CLAIM_HEADER] + [GOOD_CLAIM.replace("C-1,", f"C-{i},", 1) for i in range(1000)]
    lines[101] = lines[101].replace("1234567893,1234567893", "1234567890,1234567893")  # NPI check digit
    lines[501] = lines[501].replace("12345-6789-01", "1234567890")  # bare 10-digit NDC
    lines[901] = lines[901].replace(",30,30,", ",30,400,")  # days_supply over 365
    async with running_pipeline(stack, unique) as h:
        event = await h.upload("pharmacy_claims/mixed.csv", ("\n".join(lines) + "\n").encode())
        await h.ingest(event)
        (row,) = await h.wait_finished([event.key])
        assert (row["status"], row["rows_read"], row["rows_loaded"], row["rows_dead_lettered"]) == (
            "PARTIAL",
            1000,
            997,
            3,
        )
        assert (await h.query("SELECT count(*) AS n FROM pharmacy_claims"))[0]["n"] == 997
        letters = sorted(await dead_letters(h, 3), key=lambda d: d.line or 0)
    assert [d.line for d in letters] == [102, 502, 902]
    assert [d.errors[0].field for d in letters] == ["prescriber_npi", "ndc", "days_supply"]
    assert all(d.stage == "split" and not d.retriable and d.key == event.key for d in letters)
    assert all("M0000001" not in (d.raw or "") for d in letters)  # member_id is PHI: masked


async def test_the_seed_file_at_the_bucket_root_is_recognised(stack: Endpoints, unique: str) -> None:
    async with running_pipeline(stack, unique) as h:
        event = await h.upload("pharmacy_claim.csv", f"{CLAIM_HEADER}\n{GOOD_CLAIM}\n".encode())
        await h.ingest(event)
        (row,) = await h.wait_finished([event.key])
        assert (row["status"], row["dataset"], row["rows_loaded"]) == ("COMPLETED", "pharmacy_claims", 1)


async def test_gzip_bom_crlf_and_quoted_newlines_are_read(stack: Endpoints, unique: str) -> None:
    body = (
        "\ufeff"
        + CLAIM_HEADER
        + "\r\n"
        + GOOD_CLAIM.replace("Aspirin", '"Aspirin, ""extra""\r\nstrength"')
        + "\r\n\r\n"
    ).encode()
    async with running_pipeline(stack, unique) as h:
        event = await h.upload("pharmacy_claims/weird.csv.gz", gzip.compress(body))
        await h.ingest(event)
        (row,) = await h.wait_finished([event.key])
        assert (row["status"], row["rows_read"], row["rows_loaded"]) == ("COMPLETED", 1, 1)
        stored = (await h.query("SELECT drug_name, src_line FROM pharmacy_claims"))[0]
    assert stored["drug_name"] == 'Aspirin, "extra"\r\nstrength'
    assert stored["src_line"] == 2


async def test_an_unknown_dataset_fails_the_file_with_a_reason(stack: Endpoints, unique: str) -> None:
    async with running_pipeline(stack, unique) as h:
        event = await h.upload("misc/colours.csv", b"colour,size\nred,9\n")
        await h.ingest(event)
        (row,) = await h.wait_finished([event.key])
        assert row["status"] == "FAILED"
        assert row["error_summary"].startswith(
            "no dataset recognises 'misc/colours.csv': its first line has 2 column(s) and matches no dataset's"
        )
        assert "colour" not in row["error_summary"].removeprefix("no dataset recognises 'misc/colours.csv'")
        (letter,) = await dead_letters(h, 1)
    assert letter.key == event.key
    assert letter.line is None


async def test_the_same_object_event_twice_adds_no_rows(stack: Endpoints, unique: str) -> None:
    async with running_pipeline(stack, unique) as h:
        event = await h.upload("pharmacy_claims/dup.csv", samples.csv_bytes("pharmacy_claims", 200, 0.0, seed=5))
        await h.ingest(event)
        await h.wait_finished([event.key])
        await h.ingest(event)  # a duplicate notification: recorded, skipped, nothing re-emitted
        await h.wait_drained()
        (row,) = await h.wait_finished([event.key])
        assert row["duplicate_events"] == 1
        assert (row["status"], row["rows_read"], row["rows_loaded"]) == ("COMPLETED", 200, 200)
        assert (await h.query("SELECT count(*) AS n FROM pharmacy_claims"))[0]["n"] == 200


async def test_a_corrected_reupload_updates_rows_and_old_versions_never_win(stack: Endpoints, unique: str) -> None:
    """On a versioned bucket both versions stay readable; the newer S3 event time wins whatever the order."""
    async with running_pipeline(stack, unique) as h:
        async with aioboto3.Session().client("s3", **stack.aws.client_kwargs()) as s3:
            await s3.put_bucket_versioning(Bucket=h.bucket, VersioningConfiguration={"Status": "Enabled"})
            old = await _put_version(s3, h, "pharmacy_claims/fix.csv", f"{CLAIM_HEADER}\n{GOOD_CLAIM}\n")
            fixed = GOOD_CLAIM.replace(",30,30,", ",60,30,")
            new = await _put_version(s3, h, "pharmacy_claims/fix.csv", f"{CLAIM_HEADER}\n{fixed}\n")
        new = msgspec.structs.replace(new, event_time=old.event_time + timedelta(seconds=5))
        assert new.version != old.version
        await h.ingest(new)  # delivered out of order: the newer version first
        await h.wait_finished([new.key])
        await h.ingest(old)
        rows = await h.wait_finished([old.key])
        await h.wait_drained()
        assert len(rows) == 2 and all(r["status"] == "COMPLETED" for r in rows)
        stored = await h.query("SELECT quantity, src_version FROM pharmacy_claims")
    assert [(float(r["quantity"]), r["src_version"]) for r in stored] == [(60.0, new.version)]


async def _put_version(s3: Any, h: Harness, key: str, text: str) -> ObjectEvent:
    put = await s3.put_object(Bucket=h.bucket, Key=key, Body=text.encode())
    return ObjectEvent(
        bucket=h.bucket,
        key=key,
        etag=put["ETag"].strip('"'),
        version_id=put["VersionId"],
        event_name="ObjectCreated:Put",
        event_time=datetime.now(UTC),
    )


async def test_a_row_the_database_rejects_is_isolated_and_the_rest_loads(stack: Endpoints, unique: str) -> None:
    lines = ["tally_id,doses", *(f"T{i},{i}" for i in range(40)), "T-big,40000", *(f"U{i},1" for i in range(9))]
    async with running_pipeline(stack, unique, extra_datasets=["tests.datasets.dose_tallies"]) as h:
        event = await h.upload("dose_tallies/overflow.csv", ("\n".join(lines) + "\n").encode())
        await h.ingest(event)
        (row,) = await h.wait_finished([event.key])
        counts = (row["status"], row["rows_read"], row["rows_loaded"], row["rows_dead_lettered"])
        assert counts == ("PARTIAL", 50, 49, 1)
        assert (await h.query("SELECT count(*) AS n FROM dose_tallies"))[0]["n"] == 49
        letters = await dead_letters(h, 1)
    assert [(d.stage, d.line, d.error_class) for d in letters] == [("sink", 42, "RejectedByDatabase")]


async def test_a_test_only_dataset_flows_end_to_end(stack: Endpoints, unique: str) -> None:
    async with running_pipeline(stack, unique, extra_datasets=["tests.datasets.vaccinations"]) as h:
        dataset = h.registry.by_name("vaccinations")
        header = ",".join(c.name for c in dataset.columns)
        sample = vaccinations.SAMPLE_ROW
        event = await h.upload("vaccinations/v1.csv", f"{header}\n{sample}\n".encode())
        await h.ingest(event)
        (row,) = await h.wait_finished([event.key])
        assert (row["status"], row["dataset"], row["rows_loaded"]) == ("COMPLETED", "vaccinations", 1)
        (stored,) = await h.query("SELECT * FROM vaccinations")
    assert (stored["vaccination_id"], stored["src_key"], stored["src_line"]) == (sample.split(",")[0], event.key, 2)
