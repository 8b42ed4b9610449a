"""The drop-zone bucket as operators use it: upload files (multipart when large, with progress) and head objects.

aioboto3's `upload_fileobj` does the transfer: one PutObject below the part size, else a multipart
upload whose parts go up `concurrency` at a time, calling back after each part. Errors leave this module
translated: StorageUnavailable (transient), DropZoneRefused (terminal), SettingsError (no credentials).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aioboto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from streamproc.adapters.s3 import StorageUnavailable, error_code, is_transient
from streamproc.shared.errors import TerminalError
from streamproc.shared.settings import AwsSettings, SettingsError

MIB = 1 << 20
_MISSING = {"404", "NoSuchKey", "NoSuchVersion", "NotFound"}


class DropZoneRefused(TerminalError):
    """S3 refused the request: no such bucket, access denied, a bad request."""


@dataclass(frozen=True, kw_only=True)
class ObjectHead:
    """What S3 says of one object version."""

    key: str
    size: int
    etag: str  # without the quotes
    version_id: str | None = None


class _AsyncReader:
    """A binary file whose `read` runs in a thread, so a large upload never blocks the event loop."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    async def read(self, size: int = -1) -> bytes:
        return await asyncio.to_thread(self._file.read, size)


class DropZone:
    """One aioboto3 S3 client on one bucket: `async with DropZone(aws, bucket) as zone:`."""

    def __init__(self, aws: AwsSettings, bucket: str, *, part_size: int = 8 * MIB, concurrency: int = 4) -> None:
        self.bucket = bucket
        self._aws = aws
        self._config = TransferConfig(
            multipart_threshold=part_size, multipart_chunksize=part_size, max_concurrency=concurrency
        )
        self._stack = AsyncExitStack()
        self._client: Any = None

    async def __aenter__(self) -> DropZone:
        session = aioboto3.Session()
        self._client = await self._stack.enter_async_context(session.client("s3", **self._aws.client_kwargs()))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()
        self._client = None

    async def check_bucket(self) -> None:
        """Raise unless the bucket exists and answers (before a long upload starts)."""
        try:
            with _translated(f"bucket {self.bucket}"):
                await self._client.head_bucket(Bucket=self.bucket)
        except DropZoneRefused as exc:
            if isinstance(exc.__cause__, ClientError) and error_code(exc.__cause__) in {"404", "NoSuchBucket"}:
                msg = f"bucket {self.bucket} does not exist"
                raise DropZoneRefused(msg) from exc
            raise

    async def head(self, key: str, version_id: str | None = None) -> ObjectHead | None:
        """The object (this version of it), or None if S3 does not have it."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            with _translated(f"s3://{self.bucket}/{key}"):
                got = await self._client.head_object(**kwargs)
        except DropZoneRefused as exc:
            if isinstance(exc.__cause__, ClientError) and error_code(exc.__cause__) in _MISSING:
                return None
            raise
        etag = str(got.get("ETag", "")).strip('"')
        return ObjectHead(key=key, size=int(got["ContentLength"]), etag=etag, version_id=got.get("VersionId"))

    async def read_small(self, key: str, limit: int = 1 << 20) -> bytes | None:
        """A small object's bytes (a receipt), or None if S3 does not have it; refused past `limit` bytes."""
        try:
            with _translated(f"s3://{self.bucket}/{key}"):
                got = await self._client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{limit}")
                async with got["Body"] as body:
                    data = bytes(await body.read())
        except DropZoneRefused as exc:
            if isinstance(exc.__cause__, ClientError) and error_code(exc.__cause__) in _MISSING:
                return None
            raise
        if len(data) > limit:
            msg = f"s3://{self.bucket}/{key} is over {limit} bytes: not a receipt"
            raise DropZoneRefused(msg)
        return data

    async def upload(self, path: Path, key: str, on_bytes: Callable[[int], None]) -> ObjectHead:
        """Upload one file to `key`; `on_bytes(n)` after each part (or the whole small file) is stored."""
        content_type = "application/gzip" if path.name.lower().endswith(".gz") else "text/csv"
        file = await asyncio.to_thread(path.open, "rb")
        try:
            with _translated(f"s3://{self.bucket}/{key}"):
                await self._client.upload_fileobj(
                    _AsyncReader(file),
                    self.bucket,
                    key,
                    ExtraArgs={"ContentType": content_type},
                    Callback=on_bytes,
                    Config=self._config,
                )
        finally:
            await asyncio.to_thread(file.close)
        head = await self.head(key)
        if head is None:
            msg = f"s3://{self.bucket}/{key} is not there right after its upload"
            raise StorageUnavailable(msg)
        return head


class _translated:
    """botocore errors -> StorageUnavailable (retry later), DropZoneRefused, or SettingsError (no credentials)."""

    def __init__(self, what: str) -> None:
        self._what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, NoCredentialsError):
            msg = "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile or role)"
            raise SettingsError(msg) from exc
        if isinstance(exc, ClientError):
            code = error_code(exc)
            if is_transient(exc):
                msg = f"S3 unavailable for {self._what}: {code}"
                raise StorageUnavailable(msg) from exc
            msg = f"S3 refused {self._what}: {code}"
            raise DropZoneRefused(msg) from exc
        if isinstance(exc, BotoCoreError | OSError):
            msg = f"S3 unavailable for {self._what}: {type(exc).__name__}"
            raise StorageUnavailable(msg) from exc
