"""Read-only queries of the file ledger for the stats page, the JSON API and the CLI (own small pool)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from streamproc.adapters.postgres import Database, translated
from streamproc.ingest.ledger import WATCHED


@dataclass(frozen=True, kw_only=True)
class FileFilter:
    """Which ledger rows to list: newest first, `limit` from `offset`."""

    status: str | None = None
    dataset: str | None = None
    bucket: str | None = None
    key: str | None = None
    limit: int = 50
    offset: int = 0
    oldest_first: bool = False


@dataclass(frozen=True, kw_only=True)
class Decided:
    """What waits for an operator and what operators decided (the metrics' view)."""

    oldest_held: float | None = None  # seconds since the oldest HELD file was held
    by_action: dict[str, int] = field(default_factory=dict)  # "release" / "decline" -> files so decided


# Every column of a ledger row, plus whether it reconciles and how long it took; the WHERE part is filled in.
_FILES = sql.SQL("""SELECT
    id, bucket, key, version, dataset, status, size, etag, event_time, rows_read, rows_valid, rows_rejected,
    rows_loaded, rows_sink_rejected, rows_dead_lettered, unknown_columns, split_done, error_summary,
    attempts, duplicate_events, last_duplicate_at, received_at, started_at, finished_at, updated_at,
    controls, decision, content_sha256,
    (rows_read = rows_loaded + rows_dead_lettered) AS reconciled,
    extract(epoch FROM (coalesce(finished_at, now()) - coalesce(started_at, received_at))) AS duration_seconds
FROM ingest_files WHERE {}""")


_ORDER = {False: sql.SQL("ORDER BY received_at DESC, id DESC"), True: sql.SQL("ORDER BY received_at, id")}


class LedgerReader:
    """Queries only; a pool of its own so pages and commands never wait behind the sinks' writes."""

    def __init__(self, url: str, *, max_size: int = 2) -> None:
        self._db = Database(url, max_size=max_size, min_size=0, timeout=5.0)

    async def start(self) -> None:
        await self._db.start()

    async def stop(self) -> None:
        await self._db.stop()

    async def _rows(self, query: str | sql.Composed, params: dict[str, Any]) -> list[dict[str, Any]]:
        with translated():
            async with self._db.connection() as conn:
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(query.encode() if isinstance(query, str) else query, params)
                return await cur.fetchall()

    async def ping(self) -> None:
        """Raise DatabaseUnavailable unless PostgreSQL answers now."""
        await self._rows("SELECT 1 AS ok", {})

    async def files(self, where: FileFilter) -> list[dict[str, Any]]:
        """Ledger rows, newest first (or oldest), with `reconciled` and `duration_seconds`."""
        return await self._rows(
            _FILES.format(
                sql.SQL(" ").join(
                    [
                        sql.SQL(
                            "(%(status)s::text IS NULL OR status = %(status)s) "
                            "AND (%(dataset)s::text IS NULL OR dataset = %(dataset)s) "
                            "AND (%(bucket)s::text IS NULL OR bucket = %(bucket)s) "
                            "AND (%(key)s::text IS NULL OR key = %(key)s)"
                        ),
                        _ORDER[where.oldest_first],
                        sql.SQL("LIMIT %(limit)s OFFSET %(offset)s"),
                    ]
                )
            ),
            {
                "status": where.status,
                "dataset": where.dataset,
                "bucket": where.bucket,
                "key": where.key,
                "limit": where.limit,
                "offset": where.offset,
            },
        )

    async def file(self, file_id: int) -> dict[str, Any] | None:
        rows = await self._rows(_FILES.format(sql.SQL("id = %(id)s")), {"id": file_id})
        return rows[0] if rows else None

    async def rejects(self, file_id: int, limit: int = 1000, offset: int = 0) -> list[dict[str, Any]]:
        """Why rows of a file were dead-lettered: line, stage, error class, rules (never values)."""
        return await self._rows(
            "SELECT line, stage, error_class, errors, recorded_at FROM ingest_file_rejects "
            "WHERE file_id = %(id)s ORDER BY line LIMIT %(limit)s OFFSET %(offset)s",
            {"id": file_id, "limit": limit, "offset": offset},
        )

    async def recent_rejects(self, limit: int = 100, since: datetime | None = None) -> list[dict[str, Any]]:
        """The newest reject reasons across files, with each file's bucket, key and dataset."""
        return await self._rows(
            "SELECT f.id AS file_id, f.bucket, f.key, f.dataset, r.line, r.stage, r.error_class, r.errors, "
            "r.recorded_at FROM ingest_file_rejects r JOIN ingest_files f ON f.id = r.file_id "
            "WHERE %(since)s::timestamptz IS NULL OR r.recorded_at >= %(since)s "
            "ORDER BY r.recorded_at DESC, r.file_id DESC, r.line LIMIT %(limit)s",
            {"limit": limit, "since": since},
        )

    async def stalled(self, *, quiet: float, limit: int = 100) -> list[dict[str, Any]]:
        """Unfinished file versions nothing is working on: no claim whose heartbeat is younger than `quiet`
        seconds, and no ledger change (a split's checkpoint, a sink's counts) for `quiet` seconds."""
        return await self._rows(
            "SELECT id, bucket, key, status, updated_at FROM ingest_files "
            "WHERE status = ANY(%(watched)s) "
            "AND updated_at < now() - make_interval(secs => %(quiet)s) "
            "AND (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => %(quiet)s)) "
            "ORDER BY updated_at LIMIT %(limit)s",
            {"quiet": quiet, "limit": limit, "watched": list(WATCHED)},
        )

    async def decisions(self) -> Decided:
        """The age of the oldest HELD file (None: none is) and how many decisions the ledger keeps, per action."""
        rows = await self._rows(
            "SELECT 'held' AS what, extract(epoch FROM now() - min(finished_at)) AS n FROM ingest_files "
            "WHERE status = 'HELD' UNION ALL SELECT decision->>'action', count(*) FROM ingest_files "
            "WHERE decision IS NOT NULL GROUP BY 1",
            {},
        )
        oldest = next((r["n"] for r in rows if r["what"] == "held"), None)
        by_action = {str(r["what"]): int(r["n"]) for r in rows if r["what"] != "held"}
        return Decided(oldest_held=None if oldest is None else float(oldest), by_action=by_action)

    async def status_counts(self) -> dict[str, int]:
        """How many file versions are in each status."""
        rows = await self._rows("SELECT status, count(*) AS n FROM ingest_files GROUP BY status", {})
        return {str(r["status"]): int(r["n"]) for r in rows}

    async def count_files(self, where: FileFilter) -> int:
        """How many ledger rows match `where` (its limit and offset aside): the total behind a page."""
        rows = await self._rows(
            "SELECT count(*) AS n FROM ingest_files "
            "WHERE (%(status)s::text IS NULL OR status = %(status)s) "
            "AND (%(dataset)s::text IS NULL OR dataset = %(dataset)s) "
            "AND (%(bucket)s::text IS NULL OR bucket = %(bucket)s) "
            "AND (%(key)s::text IS NULL OR key = %(key)s)",
            {"status": where.status, "dataset": where.dataset, "bucket": where.bucket, "key": where.key},
        )
        return int(rows[0]["n"])

    async def reject_summary(self, file_id: int) -> list[dict[str, Any]]:
        """How many of a file's kept reasons broke each field's rule, most frequent first."""
        return await self._rows(
            "SELECT e->>'field' AS field, e->>'rule' AS rule, count(*) AS n "
            "FROM ingest_file_rejects r CROSS JOIN LATERAL jsonb_array_elements(r.errors) AS e "
            "WHERE r.file_id = %(id)s GROUP BY 1, 2 ORDER BY n DESC, 1, 2",
            {"id": file_id},
        )

    async def file_version(self, bucket: str, key: str, version: str | None = None) -> dict[str, Any] | None:
        """One version of an object, as files() shows it: `version`, else the newest one received."""
        rows = await self._rows(
            _FILES.format(
                sql.SQL(
                    "bucket = %(bucket)s AND key = %(key)s AND (%(version)s::text IS NULL OR version = %(version)s) "
                    "ORDER BY received_at DESC, id DESC LIMIT 1"
                )
            ),
            {"bucket": bucket, "key": key, "version": version},
        )
        return rows[0] if rows else None
