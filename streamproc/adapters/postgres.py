"""PostgreSQL adapter: migrations, the file ledger, and idempotent COPY-based batch writes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from streamproc.adapters import sink_sql
from streamproc.datasets import Dataset
from streamproc.events import ObjectEvent
from streamproc.ledger import Claim, Reject, RowRef, SplitCounts, claim_verdict
from streamproc.shared.errors import StreamprocError, TerminalError, TransientError

logger = logging.getLogger(__name__)

_MIGRATION_LOCK = 7_311_002  # pg_advisory_xact_lock key: one migrator at a time

_FINISH = """
UPDATE ingest_files SET
    status = CASE WHEN rows_dead_lettered = 0 THEN 'COMPLETED' ELSE 'PARTIAL' END,
    finished_at = now(), updated_at = now()
WHERE id = ANY(%s) AND split_done AND status = 'PROCESSING'
  AND rows_loaded + rows_dead_lettered >= rows_read
"""


class DatabaseUnavailable(TransientError):
    """Connection refused or lost, pool exhausted, server shutting down: retry in place."""

    @classmethod
    def because(cls, what: str) -> DatabaseUnavailable:
        return cls(f"database unavailable: {what}")


class RejectedByDatabase(TerminalError):
    """The database refused the data itself (a value out of range, a constraint): dead-letter it.

    The message names the driver's error class and the SQLSTATE only: the driver's own text can
    quote the offending value.
    """

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate

    @classmethod
    def because(cls, what: str, sqlstate: str | None) -> RejectedByDatabase:
        return cls(f"the database refused the data: {what}", sqlstate)


class Database:
    """One connection pool; each public method is one transaction; raises DatabaseUnavailable or RejectedByDatabase."""

    def __init__(self, url: str, *, max_size: int = 4) -> None:
        self._url = url
        self._max_size = max_size
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None

    async def start(self) -> None:
        self._pool = AsyncConnectionPool(self._url, min_size=1, max_size=self._max_size, open=False, timeout=10)
        with translated():
            await self._pool.open(wait=False)

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if self._pool is None:
            msg = "Database.start() was not called"
            raise DatabaseUnavailable(msg)
        with translated():
            async with self._pool.connection() as conn, conn.transaction():
                yield conn

    async def migrate(self, datasets: Iterable[Dataset]) -> list[str]:
        """Apply versioned SQL migrations once each, then create every dataset's table if missing."""
        applied: list[str] = []
        async with self.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in await (await conn.execute("SELECT version FROM schema_migrations")).fetchall()}
            for name, text in _migrations():
                if name not in done:
                    await conn.execute(text.encode())  # a trusted file shipped in the package
                    await conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (name,))
                    applied.append(name)
            for dataset in datasets:
                await conn.execute(sink_sql.create_table(dataset))
        return applied

    # -- ledger ----------------------------------------------------------------------------

    async def claim(self, event: ObjectEvent) -> Claim:
        """The version's ledger row (created RECEIVED if new), and whether this event is processed or skipped.

        A duplicate (see `ledger.claim_verdict`) only bumps `duplicate_events`: status and times stay.
        """
        async with self.transaction() as conn:
            await conn.execute(
                """
                INSERT INTO ingest_files (bucket, key, version, status, size, etag, event_time)
                VALUES (%s, %s, %s, 'RECEIVED', %s, %s, %s)
                ON CONFLICT (bucket, key, version) DO NOTHING
                """,
                (event.bucket, event.key, event.version, event.size, event.etag, event.event_time),
            )
            file_id, status, split_done, attempts = await _one(
                await conn.execute(
                    "SELECT id, status, split_done, attempts FROM ingest_files "
                    "WHERE bucket = %s AND key = %s AND version = %s FOR UPDATE",
                    (event.bucket, event.key, event.version),
                )
            )
            skipped = claim_verdict(status, split_done, forced=event.forced)
            if skipped is not None:
                await conn.execute(
                    "UPDATE ingest_files SET duplicate_events = duplicate_events + 1, last_duplicate_at = now() "
                    "WHERE id = %s",
                    (file_id,),
                )
                return Claim(file_id=file_id, attempt=attempts, skipped=skipped)
            await conn.execute(
                """
                UPDATE ingest_files SET status = 'PROCESSING', split_done = false, error_summary = NULL,
                    attempts = attempts + 1, started_at = now(), finished_at = NULL, updated_at = now(),
                    size = coalesce(%s, size), etag = coalesce(%s, etag), event_time = coalesce(event_time, %s)
                WHERE id = %s
                """,
                (event.size, event.etag, event.event_time, file_id),
            )
        return Claim(file_id=file_id, attempt=attempts + 1)

    async def record_rejects(self, file_id: int, rejects: Sequence[Reject]) -> None:
        """Keep why rows were dead-lettered (line, stage, rules; never values); a line is kept once."""
        if not rejects:
            return
        async with self.transaction() as conn, conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO ingest_file_rejects (file_id, line, stage, error_class, errors) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(file_id, r.line, r.stage, r.error_class, Jsonb(_errors(r))) for r in rejects],
            )

    async def finish_split(self, file_id: int, counts: SplitCounts) -> str:
        """Record the fan-out's counts; the file finishes now if the sinks already loaded every row."""
        async with self.transaction() as conn:
            await conn.execute(
                """
                UPDATE ingest_files SET dataset = %s, rows_read = %s, rows_valid = %s, rows_rejected = %s,
                    unknown_columns = %s, split_done = true, updated_at = now()
                WHERE id = %s
                """,
                (
                    counts.dataset,
                    counts.rows_read,
                    counts.rows_valid,
                    counts.rows_rejected,
                    counts.unknown_columns,
                    file_id,
                ),
            )
            await conn.execute(_FINISH, ([file_id],))
            return await _status(conn, file_id)

    async def fail_file(self, file_id: int, reason: str, counts: SplitCounts) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                """
                UPDATE ingest_files SET status = 'FAILED', dataset = coalesce(%s, dataset), error_summary = %s,
                    rows_read = %s, rows_valid = %s, rows_rejected = %s, unknown_columns = %s,
                    split_done = true, finished_at = now(), updated_at = now()
                WHERE id = %s
                """,
                (
                    counts.dataset,
                    reason,
                    counts.rows_read,
                    counts.rows_valid,
                    counts.rows_rejected,
                    counts.unknown_columns,
                    file_id,
                ),
            )

    async def files(self, limit: int = 100, bucket: str | None = None) -> list[dict[str, Any]]:
        """Newest ledger rows first (what the stats page and the CLI show)."""
        async with self.transaction() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT * FROM ingest_files WHERE %(bucket)s::text IS NULL OR bucket = %(bucket)s "
                "ORDER BY received_at DESC, id DESC LIMIT %(limit)s",
                {"bucket": bucket, "limit": limit},
            )
            return await cur.fetchall()

    # -- sinks -----------------------------------------------------------------------------

    async def write_batch(self, dataset: Dataset, rows: Sequence[Sequence[Any]]) -> None:
        """COPY rows (dataset columns + provenance) to staging, upsert, count per file, finish files."""
        async with self.transaction() as conn:
            await conn.execute(sink_sql.create_staging(dataset))
            async with conn.cursor().copy(sink_sql.copy_into_staging(dataset)) as copy:
                for row in rows:
                    await copy.write_row(row)
            await conn.execute(sink_sql.ensure_files(dataset))
            await conn.execute(sink_sql.upsert(dataset))
            await conn.execute(sink_sql.count_loaded(dataset))
            touched = [r[0] for r in await (await conn.execute(sink_sql.touched_files(dataset))).fetchall()]
            await conn.execute(_FINISH, (touched,))

    async def record_rejected(self, dataset: Dataset, refs: Sequence[RowRef]) -> None:
        """Count rows the database refused (already dead-lettered) once each, and finish their files."""
        async with self.transaction() as conn:
            ids: list[int] = []
            for ref in refs:
                cur = await conn.execute(
                    """
                    WITH f AS (
                        INSERT INTO ingest_files (bucket, key, version, dataset, status)
                        VALUES (%s, %s, %s, %s, 'PROCESSING')
                        ON CONFLICT (bucket, key, version) DO UPDATE SET updated_at = now()
                        RETURNING id
                    ), fresh AS (
                        INSERT INTO ingest_file_rows (file_id, line, outcome) SELECT id, %s, 'D' FROM f
                        ON CONFLICT DO NOTHING RETURNING file_id
                    )
                    SELECT (SELECT id FROM f), (SELECT count(*) FROM fresh)
                    """,
                    (ref.bucket, ref.key, ref.version, dataset.name, ref.line),
                )
                got = await _one(cur)
                await conn.execute(
                    "UPDATE ingest_files SET rows_sink_rejected = rows_sink_rejected + %s WHERE id = %s",
                    (got[1], got[0]),
                )
                reject = Reject(line=ref.line, stage="sink", error_class=ref.error_class, errors=ref.errors)
                await conn.execute(
                    "INSERT INTO ingest_file_rejects (file_id, line, stage, error_class, errors) "
                    "VALUES (%s, %s, 'sink', %s, %s) ON CONFLICT DO NOTHING",
                    (got[0], ref.line, ref.error_class, Jsonb(_errors(reject))),
                )
                ids.append(got[0])
            await conn.execute(_FINISH, (ids,))


async def _one(cur: psycopg.AsyncCursor[Any]) -> Any:
    """The single row a RETURNING or scalar SELECT always yields."""
    row = await cur.fetchone()
    if row is None:
        msg = "statement returned no row"
        raise DatabaseUnavailable(msg)
    return row


async def _status(conn: psycopg.AsyncConnection[Any], file_id: int) -> str:
    row = await (await conn.execute("SELECT status FROM ingest_files WHERE id = %s", (file_id,))).fetchone()
    return str(row[0]) if row else "MISSING"


def _errors(reject: Reject) -> list[dict[str, str]]:
    return [{"field": e.field, "rule": e.rule, "message": e.message} for e in reject.errors]


def _migrations() -> list[tuple[str, str]]:
    folder = resources.files("streamproc.adapters") / "migrations"
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text()) for p in files]


class translated:
    """Turn driver errors into DatabaseUnavailable (retry) or RejectedByDatabase (dead-letter)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, StreamprocError):
            return
        sqlstate = getattr(exc, "sqlstate", None)
        # Never the driver's text: "invalid input syntax for type date: ..." quotes the value.
        message = f"{type(exc).__name__} (SQLSTATE {sqlstate})" if sqlstate else type(exc).__name__
        if isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
            raise RejectedByDatabase.because(message, sqlstate) from exc
        if isinstance(exc, psycopg.Error | PoolTimeout | OSError):
            raise DatabaseUnavailable.because(message) from exc
