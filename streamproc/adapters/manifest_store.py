"""Manifests in the ledger (ingest.ports.ManifestLedger): their arrival, the files awaiting one, the overdue, the
orphaned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg.rows import dict_row

from streamproc.adapters.postgres import Database

_ARRIVED = """
INSERT INTO ingest_manifests (bucket, manifest_key, data_key, etag) VALUES (%s, %s, %s, %s)
ON CONFLICT (bucket, manifest_key, etag) DO NOTHING
"""
_AWAITING = """
SELECT * FROM ingest_files WHERE bucket = %s AND key = %s AND status = 'AWAITING_MANIFEST' ORDER BY id
"""
# Touched when returned, so each overdue file is handed again at most once per `wait`.
_OVERDUE = """
UPDATE ingest_files SET updated_at = now()
WHERE status = 'AWAITING_MANIFEST' AND received_at < now() - make_interval(secs => %(wait)s)
  AND updated_at < now() - make_interval(secs => least(%(wait)s, 60))
RETURNING *
"""
_ORPHANS = """
UPDATE ingest_manifests m SET reported_at = now()
WHERE reported_at IS NULL AND received_at < now() - make_interval(secs => %(wait)s)
  AND NOT EXISTS (SELECT 1 FROM ingest_files f WHERE f.bucket = m.bucket AND f.key = m.data_key)
RETURNING id, bucket, manifest_key, data_key, received_at
"""


class ManifestStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def arrived(self, bucket: str, key: str, data_key: str, etag: str | None) -> list[Mapping[str, Any]]:
        async with self.db.transaction() as conn:
            await conn.execute(_ARRIVED, (bucket, key, data_key, etag or ""))
            cur = conn.cursor(row_factory=dict_row)
            return list(await (await cur.execute(_AWAITING, (bucket, data_key))).fetchall())

    async def overdue(self, wait: float) -> list[Mapping[str, Any]]:
        return await self._rows(_OVERDUE, wait)

    async def orphans(self, wait: float) -> list[Mapping[str, Any]]:
        return await self._rows(_ORPHANS, wait)

    async def _rows(self, statement: str, wait: float) -> list[Mapping[str, Any]]:
        async with self.db.transaction() as conn:
            cur = conn.cursor(row_factory=dict_row)
            return list(await (await cur.execute(statement, {"wait": wait})).fetchall())
