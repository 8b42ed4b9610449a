"""The S3 adapters against real moto: what each refusal and outage becomes (the errors the pipeline acts on)."""

from __future__ import annotations

import re
from pathlib import Path

import aioboto3
import pytest

from devstack.harness import running_pipeline
from devstack.process import free_port
from devstack.stack import Endpoints
from streamproc.adapters.drop_zone import DropZone, DropZoneRefused
from streamproc.adapters.s3 import ObjectUnreadable, S3Reader, StorageUnavailable
from streamproc.datasets import samples
from streamproc.ingest.ports import ObjectSuperseded
from streamproc.shared.settings import AwsSettings


def _aws(stack: Endpoints, *, endpoint: str | None = None) -> AwsSettings:
    return AwsSettings(
        endpoint_url=endpoint or stack.aws.url,
        region=stack.aws.region,
        access_key_id=stack.aws.access_key_id,
        secret_access_key=stack.aws.secret_access_key,
    )


async def _bucket(stack: Endpoints, name: str) -> None:
    async with aioboto3.Session().client("s3", **stack.aws.client_kwargs()) as s3:
        await s3.create_bucket(Bucket=name)


async def _read(reader: S3Reader, bucket: str, key: str, etag: str | None = None) -> bytes:
    return b"".join([chunk async for chunk in reader.chunks(bucket, key, etag=etag)])


async def test_the_reader_calls_a_missing_object_or_bucket_unreadable_and_a_dead_endpoint_unavailable(
    stack: Endpoints, unique: str
) -> None:
    await _bucket(stack, f"r-{unique}")
    reader = S3Reader(_aws(stack).client_kwargs())
    with pytest.raises(StorageUnavailable, match="not started"):
        await reader.ping(f"r-{unique}")
    await reader.start()
    try:
        with pytest.raises(ObjectUnreadable, match="object cannot be read: NoSuchKey"):
            await _read(reader, f"r-{unique}", "gone.csv")
        with pytest.raises(ObjectUnreadable, match="object cannot be read: NoSuchBucket"):
            await _read(reader, f"nobucket-{unique}", "x.csv")
        await reader.ping(f"r-{unique}")
        refused = f"bucket nobucket-{unique} did not answer GetBucketLocation: NoSuchBucket"
        with pytest.raises(StorageUnavailable, match=refused):
            await reader.ping(f"nobucket-{unique}")
    finally:
        await reader.stop()
    dead = S3Reader(_aws(stack, endpoint=f"http://127.0.0.1:{free_port()}").client_kwargs())
    await dead.start()
    try:
        with pytest.raises(StorageUnavailable, match="S3 unavailable: EndpointConnectionError"):
            await _read(dead, f"r-{unique}", "x.csv")
        with pytest.raises(StorageUnavailable, match="S3 unavailable: EndpointConnectionError"):
            await dead.ping(f"r-{unique}")
    finally:
        await dead.stop()


async def test_the_drop_zone_names_a_missing_bucket_finds_no_missing_object_and_a_dead_endpoint_unavailable(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    await _bucket(stack, f"z-{unique}")
    file = tmp_path / "a.csv"
    file.write_bytes(b"claim_id\nC1\n")
    async with DropZone(_aws(stack), f"z-{unique}") as zone:
        await zone.check_bucket()
        assert await zone.head("never.csv") is None
        head = await zone.upload(file, "pharmacy_claims/a.csv", lambda _n: None)
        assert (head.key, head.size) == ("pharmacy_claims/a.csv", 12)
    async with DropZone(_aws(stack), f"nobucket-{unique}") as zone:
        with pytest.raises(DropZoneRefused, match=f"bucket nobucket-{unique} does not exist"):
            await zone.check_bucket()
        with pytest.raises(DropZoneRefused, match=re.escape(f"S3 refused s3://nobucket-{unique}/a.csv: NoSuchBucket")):
            await zone.upload(file, "a.csv", lambda _n: None)
    async with DropZone(_aws(stack, endpoint=f"http://127.0.0.1:{free_port()}"), f"z-{unique}") as zone:
        with pytest.raises(
            StorageUnavailable, match=re.escape(f"S3 unavailable for bucket z-{unique}: EndpointConnectionError")
        ):
            await zone.check_bucket()


async def test_an_object_deleted_before_it_is_read_fails_its_file_with_the_reason(
    stack: Endpoints, unique: str
) -> None:
    async with running_pipeline(stack, unique) as h:
        event = await h.upload("pharmacy_claims/deleted.csv", b"claim_id\nC1\n")
        async with aioboto3.Session().client("s3", **stack.aws.client_kwargs()) as s3:
            await s3.delete_object(Bucket=h.bucket, Key=event.key)
        await h.ingest(event)
        (row,) = await h.wait_finished([event.key])
    assert (row["status"], row["rows_read"]) == ("FAILED", 0)
    assert row["error_summary"] == "object cannot be read: NoSuchKey"


async def test_an_overwritten_key_is_never_read_from_the_newer_bytes(stack: Endpoints, unique: str) -> None:
    """Unversioned bucket, worker behind: v1 (100 rows) then v2 (50 rows) to one key, then both events."""
    claims = "pharmacy_claims"
    async with running_pipeline(stack, unique) as h:
        first = await h.upload("pharmacy_claims/over.csv", samples.csv_bytes(claims, 100, 0.0, seed=1))
        second = await h.upload("pharmacy_claims/over.csv", samples.csv_bytes(claims, 50, 0.0, seed=2))
        assert first.etag != second.etag
        reader = S3Reader(_aws(stack).client_kwargs())
        await reader.start()
        try:
            with pytest.raises(ObjectSuperseded, match="ETag differs"):
                await _read(reader, h.bucket, first.key, first.etag)
            assert len(await _read(reader, h.bucket, second.key, second.etag)) > 0
        finally:
            await reader.stop()
        await h.ingest(first)
        await h.ingest(second)
        rows = await h.wait_finished([first.key])
        await h.wait_drained()
        loaded = await h.query("SELECT src_version FROM pharmacy_claims")
    by_version = {r["version"]: r for r in rows}
    assert by_version[first.etag]["status"] == "SUPERSEDED"
    assert by_version[first.etag]["rows_read"] == 0
    assert "bytes are gone" in by_version[first.etag]["error_summary"]
    assert (by_version[second.etag]["status"], by_version[second.etag]["rows_loaded"]) == ("COMPLETED", 50)
    assert {r["src_version"] for r in loaded} == {second.etag}
    assert len(loaded) == 50
