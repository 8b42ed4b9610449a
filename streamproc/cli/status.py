"""`status [s3://bucket/key]`: the file ledger as a table, or one file with its counts and dead-letter reasons."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import click
import faust
import msgspec
from faust.cli import argument, option

from streamproc.adapters.drop_zone import DropZone
from streamproc.adapters.ledger_reader import FileFilter, LedgerReader
from streamproc.adapters.postgres import DatabaseUnavailable
from streamproc.cli import views
from streamproc.cli.base import OperatorCommand
from streamproc.cli.errors import BadUsage, NotFound, Unavailable
from streamproc.cli.params import S3_URL
from streamproc.datasets.registry import Registry
from streamproc.ingest.ledger import STATUSES
from streamproc.ingest.receipt import receipt_key
from streamproc.shared.settings import redact_url
from streamproc.worker.settings import WorkerSettings

_NO_LEDGER = "42P01"  # undefined_table: no worker has migrated this database yet


@asynccontextmanager
async def ledger(settings: WorkerSettings) -> AsyncIterator[LedgerReader]:
    """A started LedgerReader; a database without the ledger tables is said so plainly."""
    reader = LedgerReader(settings.database_url, max_size=1)
    await reader.start()
    try:
        yield reader
    except DatabaseUnavailable as exc:
        if getattr(exc.__cause__, "sqlstate", None) == _NO_LEDGER:
            msg = "this database has no file ledger yet: start the worker once (it creates the tables)"
            raise Unavailable(msg) from exc
        msg = f"PostgreSQL at {redact_url(settings.database_url)}: {exc}"
        raise Unavailable(msg) from exc
    finally:
        await reader.stop()


async def file_row(settings: WorkerSettings, bucket: str, key: str, version: str | None, verb: str) -> dict[str, Any]:
    """One version's ledger row (`version`, else the newest); NotFound (exit 1) saying there is nothing to `verb`."""
    async with ledger(settings) as reader:
        row = await reader.file_version(bucket, key, version)
    if row is None:
        which = f"version {version} of " if version else ""
        msg = f"the ledger has no {which}s3://{bucket}/{key}: nothing to {verb}"
        raise NotFound(msg)
    return row


def register(app: faust.App, settings: WorkerSettings, registry: Registry) -> None:
    @app.command(
        argument("file", type=S3_URL, required=False),
        option(
            "--status", "status_", type=click.Choice(STATUSES, case_sensitive=False), help="only files in this status"
        ),
        option("--dataset", type=click.Choice([d.name for d in registry]), help="only files of this dataset"),
        option("--limit", type=click.IntRange(1, 10_000), default=20, help="how many files (newest first)"),
        option("--version", help="with FILE: this version (S3 version id or ETag) instead of the newest"),
        option("--rejects", type=click.IntRange(0, 100_000), default=50, help="with FILE: reject reasons to show"),
        option("--receipt", is_flag=True, help="with FILE: the receipt the worker wrote for its sender, as JSON"),
        base=OperatorCommand,
    )
    async def status(
        self: OperatorCommand,
        file: tuple[str, str] | None,
        status_: str | None,
        dataset: str | None,
        limit: int,
        version: str | None,
        rejects: int,
        receipt: bool,
    ) -> None:
        """Show the file ledger, newest first; or one FILE (s3://bucket/key): its counts, attempts,
        duplicates, times and why its rejected rows were dead-lettered (lines, fields and rules, never values).

        With the global --json flag (`python -m streamproc --json status`), one JSON object per line. With
        --receipt, the receipt of FILE as its sender finds it in S3 (STREAMPROC_RECEIPT_PREFIX).
        """
        if receipt:
            if file is None:
                msg = "--receipt needs a FILE (s3://bucket/key)"
                raise BadUsage(msg)
            self.out(await _receipt(settings, *file))
            return
        async with ledger(settings) as reader:
            if file is None:
                where = FileFilter(status=status_.upper() if status_ else None, dataset=dataset, limit=limit)
                rows = await reader.files(where)
                lines = _json_lines(rows) if self.json else await _table(reader, rows)
            else:
                lines = await _one_file(reader, *file, version=version, rejects=rejects, as_json=self.json)
        for line in lines:
            self.out(line)


async def _table(reader: LedgerReader, rows: list[dict[str, Any]]) -> list[str]:
    summary = views.status_summary(await reader.status_counts(), len(rows))
    return [*(views.ledger_table(rows) if rows else []), summary]


async def _one_file(
    reader: LedgerReader, bucket: str, key: str, *, version: str | None, rejects: int, as_json: bool
) -> list[str]:
    row = await reader.file_version(bucket, key, version)
    if row is None:
        which = f"version {version} of " if version else ""
        msg = f"the ledger has no {which}s3://{bucket}/{key}"
        raise NotFound(msg)
    versions = len(await reader.files(FileFilter(bucket=bucket, key=key, limit=1000)))
    reasons = await reader.rejects(row["id"], limit=rejects) if rejects else []
    if as_json:
        return _json_lines([row | {"versions": versions, "rejects": reasons}])
    lines = views.file_report(row, versions)
    if reasons:
        shown = f"first {len(reasons)} of {row['rows_dead_lettered']}"
        lines += ["", f"dead-letter reasons ({shown}; fields and rules, never values):", *views.reject_lines(reasons)]
    return lines


async def _receipt(settings: WorkerSettings, bucket: str, key: str) -> str:
    if not settings.receipt_prefix:
        msg = "no receipts are written: STREAMPROC_RECEIPT_PREFIX is empty"
        raise NotFound(msg)
    where = receipt_key(key, settings.receipt_prefix)
    async with DropZone(settings.aws, bucket) as zone:
        body = await zone.read_small(where)
    if body is None:
        msg = f"no receipt at s3://{bucket}/{where} yet: the file is not finished or decided (`status` shows it)"
        raise NotFound(msg)
    return body.decode("utf-8", "replace")


def _json_lines(rows: list[dict[str, Any]]) -> list[str]:
    return [msgspec.json.encode(row).decode() for row in rows]
