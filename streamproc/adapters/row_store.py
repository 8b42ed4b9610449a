"""The sinks' side of PostgreSQL: one idempotent COPY -> staging -> upsert per batch, with the line ledger."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from streamproc.adapters import sink_sql
from streamproc.adapters.ledger_store import FINISH, reject_errors
from streamproc.adapters.postgres import Database
from streamproc.datasets.model import Dataset
from streamproc.ingest.ledger import LoadBatch, RowRef, Version, count_fresh
from streamproc.shared.faults import Faults


class RowStore:
    """Writes sink batches (ports.SinkStore); a staging table per dataset per connection, made once."""

    def __init__(self, db: Database, faults: Faults | None = None) -> None:
        self.db = db
        self.faults = faults or Faults()
        self._staged: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], set[str]] = weakref.WeakKeyDictionary()

    async def write_batch(self, dataset: Dataset, batch: LoadBatch) -> None:
        """One transaction: COPY to staging, upsert, count the batch's lines once each, finish files."""
        async with self.db.connection() as conn:
            await self._staging(conn, dataset)
            async with conn.transaction():
                async with conn.cursor().copy(sink_sql.copy_into_staging(dataset)) as copy:
                    for row in batch.rows:
                        await copy.write_row(row)
                await conn.execute(sink_sql.upsert(dataset))
                self.faults.hit("sink-write")  # test-only: die with the batch written but not committed
                ids = await _count_lines(conn, dataset, batch.topic, batch.lines, "rows_loaded")
                await conn.execute(FINISH, (ids,))

    async def _staging(self, conn: psycopg.AsyncConnection[Any], dataset: Dataset) -> None:
        """The dataset's temp staging table, made once per connection in a transaction of its own (a batch
        rolled back must not take it along); ON COMMIT DELETE ROWS empties it after every batch."""
        made = self._staged.setdefault(conn, set())
        if dataset.table not in made:
            async with conn.transaction():
                await conn.execute(sink_sql.create_staging(dataset))
            made.add(dataset.table)

    async def record_rejected(self, dataset: Dataset, topic: str, refs: Sequence[RowRef]) -> None:
        """Count rows the database refused (already dead-lettered) once each, keep why, and finish their files."""
        lines: dict[Version, dict[int, list[int]]] = {}
        for ref in refs:
            lines.setdefault((ref.bucket, ref.key, ref.version), {}).setdefault(ref.partition, []).append(ref.line)
        async with self.db.transaction() as conn:
            ids = await _count_lines(conn, dataset, topic, lines, "rows_sink_rejected")
            file_ids = dict(zip(list(lines), ids, strict=True))
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO ingest_file_rejects (file_id, line, stage, error_class, errors) "
                    "VALUES (%s, %s, 'sink', %s, %s) ON CONFLICT DO NOTHING",
                    [
                        (file_ids[(r.bucket, r.key, r.version)], r.line, r.error_class, Jsonb(reject_errors(r.errors)))
                        for r in refs
                    ],
                )
            await conn.execute(FINISH, (ids,))


async def _count_lines(
    conn: psycopg.AsyncConnection[Any],
    dataset: Dataset,
    topic: str,
    lines: dict[Version, dict[int, list[int]]],
    counter: str,
) -> list[int]:
    """Add each file's lines not counted before (`ledger.count_fresh`) to `counter`; the file ids, in order."""
    versions = list(lines)
    columns = [[v[0] for v in versions], [v[1] for v in versions], [v[2] for v in versions]]
    await conn.execute(_ENSURE_FILES, (dataset.name, *columns))  # a replay into a fresh ledger has no rows yet
    cur = await conn.execute(_LOCK_FILES, columns)  # in id order: concurrent sinks never deadlock
    ids = {(b, k, v): file_id for file_id, b, k, v in await cur.fetchall()}
    cur = await conn.execute(_PROGRESS, (topic, list(ids.values())))
    marks = {(file_id, partition): high for file_id, partition, high in await cur.fetchall()}
    fresh: dict[int, int] = {}
    updates: list[tuple[int, int, int]] = []
    for version, by_partition in lines.items():
        file_id = ids[version]
        for partition, seen in by_partition.items():
            count, high = count_fresh(seen, marks.get((file_id, partition), 0))
            fresh[file_id] = fresh.get(file_id, 0) + count
            updates.append((file_id, partition, high))
    await conn.execute(
        _SAVE_PROGRESS, (topic, [u[0] for u in updates], [u[1] for u in updates], [u[2] for u in updates])
    )
    await conn.execute(sql.SQL(_ADD_COUNTS).format(sql.Identifier(counter)), (list(fresh), list(fresh.values())))
    return [ids[v] for v in versions]


_ENSURE_FILES = """
INSERT INTO ingest_files (bucket, key, version, dataset, status)
SELECT b, k, v, %s, 'PROCESSING' FROM unnest(%s::text[], %s::text[], %s::text[]) AS u(b, k, v)
ON CONFLICT (bucket, key, version) DO NOTHING
"""
_LOCK_FILES = """
SELECT f.id, f.bucket, f.key, f.version FROM ingest_files f
JOIN unnest(%s::text[], %s::text[], %s::text[]) AS u(b, k, v) ON (f.bucket, f.key, f.version) = (u.b, u.k, u.v)
ORDER BY f.id FOR UPDATE OF f
"""
_PROGRESS = "SELECT file_id, partition, max_line FROM ingest_file_progress WHERE topic = %s AND file_id = ANY(%s)"
_SAVE_PROGRESS = """
INSERT INTO ingest_file_progress (file_id, topic, partition, max_line)
SELECT f, %s, p, m FROM unnest(%s::bigint[], %s::int[], %s::int[]) AS u(f, p, m)
ON CONFLICT (file_id, topic, partition)
DO UPDATE SET max_line = greatest(ingest_file_progress.max_line, EXCLUDED.max_line)
"""
_ADD_COUNTS = """
UPDATE ingest_files i SET {0} = i.{0} + u.n, updated_at = now()
FROM unnest(%s::bigint[], %s::int[]) AS u(id, n) WHERE i.id = u.id AND u.n > 0
"""
