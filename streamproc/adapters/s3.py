"""S3 adapter: stream one object version in chunks with aioboto3, write a receipt; errors become transient or
terminal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any

import aioboto3
from botocore.exceptions import BotoCoreError, ClientError

from streamproc.datasets.declared import MAX_MANIFEST_BYTES
from streamproc.ingest.ports import ObjectSuperseded
from streamproc.shared.errors import TerminalError, TransientError

# Codes that mean "this object version cannot be read, and retrying will not change that".
_TERMINAL = {"NoSuchKey", "NoSuchVersion", "NoSuchBucket", "AccessDenied", "InvalidObjectState", "404", "403"}


class ObjectUnreadable(TerminalError):
    """The object is gone, forbidden or archived: the file fails with this reason."""


class StorageUnavailable(TransientError):
    """Connection problems, throttling or a 5xx: retry in place."""


class S3Reader:
    """One aioboto3 S3 client, opened in start() and closed in stop()."""

    def __init__(self, client_kwargs: dict[str, Any], chunk_size: int = 1 << 20) -> None:
        self._client_kwargs = client_kwargs
        self._chunk_size = chunk_size
        self._stack = AsyncExitStack()
        self._client: Any = None

    async def start(self) -> None:
        session = aioboto3.Session()
        self._client = await self._stack.enter_async_context(session.client("s3", **self._client_kwargs))

    async def stop(self) -> None:
        await self._stack.aclose()
        self._client = None

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Around every call: a client not started, a connection error or a botocore failure is StorageUnavailable
        (retried in place); each call translates S3's own error responses (ClientError) itself."""
        if self._client is None:
            msg = "S3 client not started"
            raise StorageUnavailable(msg)
        try:
            yield
        except (BotoCoreError, OSError) as exc:
            msg = f"S3 unavailable: {type(exc).__name__}"
            raise StorageUnavailable(msg) from exc

    async def chunks(
        self, bucket: str, key: str, version_id: str | None = None, etag: str | None = None
    ) -> AsyncIterator[bytes]:
        """The notified version's bytes in chunks of at most chunk_size; memory does not grow with object size.

        The read is pinned to that version: by its version id, else by its ETag (`If-Match`), so an overwritten
        key on an unversioned bucket raises ObjectSuperseded instead of yielding the newer bytes, and a stream
        read again after a break can never mix two versions.
        """
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        elif etag:
            kwargs["IfMatch"] = f'"{etag.strip(chr(34))}"'
        with self._translated():
            try:
                response = await self._client.get_object(**kwargs)
                body = response["Body"]
                try:
                    async for chunk in body.iter_chunks(self._chunk_size):
                        yield chunk
                finally:
                    body.close()
            except ClientError as exc:
                raise _classify(exc) from exc

    async def small(self, bucket: str, key: str) -> bytes | None:
        """A manifest's bytes (at most MAX_MANIFEST_BYTES + 1 are read, so an oversized one is told apart), None if
        there is none. Without s3:ListBucket a missing key reads as AccessDenied: that is none too."""
        with self._translated():
            try:
                got = await self._client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_MANIFEST_BYTES}")
                async with got["Body"] as body:
                    return bytes(await body.read())
            except ClientError as exc:
                if is_transient(exc):
                    msg = f"S3 unavailable: {error_code(exc)}"
                    raise StorageUnavailable(msg) from exc
                if error_code(exc) in _TERMINAL:
                    return None
                msg = f"manifest cannot be read: {error_code(exc) or '?'}"
                raise ObjectUnreadable(msg) from exc

    async def put(self, bucket: str, key: str, body: bytes) -> None:
        """Write one small JSON object (a receipt); StorageUnavailable to retry, ObjectUnreadable if refused."""
        with self._translated():
            try:
                await self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
            except ClientError as exc:
                code = error_code(exc)
                if is_transient(exc):
                    msg = f"S3 unavailable: {code}"
                    raise StorageUnavailable(msg) from exc
                msg = f"S3 refused the write: {code or '?'}"
                raise ObjectUnreadable(msg) from exc

    async def ping(self, bucket: str) -> None:
        """Raise StorageUnavailable unless `bucket` answers GetBucketLocation now (the stats page's S3 health).

        Not HeadBucket: it needs s3:ListBucket, which the worker is deliberately not granted (terraform/iam.tf).
        GetBucketLocation is signed and authorised like any call, so it tells S3 reachable and our credentials
        allowed on this bucket from not, and reveals only the bucket's region."""
        with self._translated():
            try:
                await self._client.get_bucket_location(Bucket=bucket)
            except ClientError as exc:
                msg = f"bucket {bucket} did not answer GetBucketLocation: {error_code(exc) or '?'}"
                raise StorageUnavailable(msg) from exc


_TRANSIENT = {"SlowDown", "Throttling", "RequestTimeout", "ServiceUnavailable"}


def error_code(exc: ClientError) -> str:
    """S3's error code, or the HTTP status when a HEAD's error has no body."""
    error = exc.response.get("Error", {})
    return str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def is_transient(exc: ClientError) -> bool:
    """Throttling, a timeout or a 5xx: worth the same request again later."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return error_code(exc) in _TRANSIENT or status >= 500


def _classify(exc: ClientError) -> TerminalError | StorageUnavailable:
    code = error_code(exc)
    if code in ("PreconditionFailed", "412"):
        return ObjectSuperseded("the key was overwritten: the notified version's bytes are gone (ETag differs)")
    if code in _TERMINAL:
        return ObjectUnreadable(f"object cannot be read: {code}")
    if is_transient(exc):
        return StorageUnavailable(f"S3 unavailable: {code}")
    return ObjectUnreadable(f"object cannot be read: {code}")
