"""PostgreSQL adapter: the connection pool, transactions, migrations, and driver errors made the project's."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from streamproc.adapters import sink_sql
from streamproc.datasets.model import Dataset
from streamproc.shared.errors import StreamprocError, TerminalError, TransientError

logger = logging.getLogger(__name__)

_MIGRATION_LOCK = 7_311_002  # pg_advisory_xact_lock key: one migrator at a time


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

    def __init__(self, url: str, *, max_size: int = 4, min_size: int = 1, timeout: float = 10.0) -> None:
        self._url = url
        self._sizes, self._timeout = (min_size, max_size), timeout
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None

    async def start(self) -> None:
        low, high = self._sizes
        self._pool = AsyncConnectionPool(self._url, min_size=low, max_size=high, open=False, timeout=self._timeout)
        with translated():
            await self._pool.open(wait=False)

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with self.connection() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection outside any transaction (open one with `conn.transaction()`)."""
        if self._pool is None:
            msg = "Database.start() was not called"
            raise DatabaseUnavailable(msg)
        with translated():
            async with self._pool.connection() as conn:
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
                missing = await conn.execute(_HAS_SEQUENCER, (dataset.table,))
                if await missing.fetchone() is None:  # an ALTER takes an exclusive lock even when it changes nothing
                    await conn.execute(sink_sql.add_missing_columns(dataset))
        return applied

    # -- ledger ----------------------------------------------------------------------------


_HAS_SEQUENCER = """
SELECT 1 FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = %s AND column_name = 'src_sequencer'
"""


async def one(cur: psycopg.AsyncCursor[Any]) -> Any:
    """The single row a RETURNING or scalar SELECT always yields."""
    row = await cur.fetchone()
    if row is None:
        msg = "statement returned no row"
        raise DatabaseUnavailable(msg)
    return row


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
