"""SQL text for a dataset's table, its staging table and its idempotent batch upsert (built from the Dataset)."""

from __future__ import annotations

from psycopg import sql

from streamproc.datasets import Dataset

# Every stored row carries where it came from; the staging table has the same columns.
PROVENANCE = (
    ("src_bucket", "text"),
    ("src_key", "text"),
    ("src_version", "text"),
    ("src_line", "integer"),
    ("src_event_time", "timestamptz"),
)
_ORDER = ("src_event_time", "src_line", "src_key", "src_version")


def staging_name(dataset: Dataset) -> sql.Identifier:
    return sql.Identifier(f"stage_{dataset.table}")


def column_names(dataset: Dataset) -> list[str]:
    return [c.name for c in dataset.columns] + [name for name, _ in PROVENANCE]


def create_table(dataset: Dataset) -> sql.Composed:
    cols: list[sql.Composable] = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(c.name),
            sql.SQL(c.pg_type),
            sql.SQL(" NOT NULL") if c.required or c.name == dataset.natural_key else sql.SQL(""),
        )
        for c in dataset.columns
    ]
    cols += [sql.SQL("{} {} NOT NULL").format(sql.Identifier(n), sql.SQL(t)) for n, t in PROVENANCE]
    cols.append(sql.SQL("loaded_at timestamptz NOT NULL DEFAULT now()"))
    cols.append(sql.SQL("PRIMARY KEY ({})").format(sql.Identifier(dataset.natural_key)))
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(sql.Identifier(dataset.table), sql.SQL(", ").join(cols))


def create_staging(dataset: Dataset) -> sql.Composed:
    """A per-connection temp table typed like the target, so COPY rejects what the table would."""
    cols = [sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.pg_type)) for c in dataset.columns]
    cols += [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in PROVENANCE]
    return sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS").format(
        staging_name(dataset), sql.SQL(", ").join(cols)
    )


def copy_into_staging(dataset: Dataset) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        staging_name(dataset), sql.SQL(", ").join(map(sql.Identifier, column_names(dataset)))
    )


def upsert(dataset: Dataset) -> sql.Composed:
    """Staging -> table: one row per key (the latest provenance), then latest-wins or append-only."""
    table, key = sql.Identifier(dataset.table), sql.Identifier(dataset.natural_key)
    cols = sql.SQL(", ").join(map(sql.Identifier, column_names(dataset)))
    order = sql.SQL(", ").join(sql.SQL("{} DESC").format(sql.Identifier(c)) for c in _ORDER)
    select = sql.SQL("SELECT DISTINCT ON ({key}) {cols} FROM {stage} ORDER BY {key}, {order}").format(
        key=key, cols=cols, stage=staging_name(dataset), order=order
    )
    action: sql.Composable
    if dataset.conflict == "append_only":
        action = sql.SQL("DO NOTHING")
    else:
        sets = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in column_names(dataset)
        )
        newer = sql.SQL("({}) < ({})").format(
            sql.SQL(", ").join(sql.SQL("{}.{}").format(table, sql.Identifier(c)) for c in _ORDER),
            sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in _ORDER),
        )
        action = sql.SQL("DO UPDATE SET {}, loaded_at = now() WHERE {}").format(sets, newer)
    return sql.SQL("INSERT INTO {table} ({cols}) {select} ON CONFLICT ({key}) {action}").format(
        table=table, cols=cols, select=select, key=key, action=action
    )


def ensure_files(dataset: Dataset) -> sql.Composed:
    """Ledger rows for every staged file (normally the fan-out made them already; replays may not have)."""
    return sql.SQL(
        "INSERT INTO ingest_files (bucket, key, version, dataset, status) "
        "SELECT DISTINCT src_bucket, src_key, src_version, {name}, 'PROCESSING' FROM {stage} "
        "ON CONFLICT (bucket, key, version) DO NOTHING"
    ).format(name=sql.Literal(dataset.name), stage=staging_name(dataset))


def count_loaded(dataset: Dataset) -> sql.Composed:
    """Record each staged line as loaded (once ever) and add the new ones to its file's count."""
    return sql.SQL(
        """
        WITH fresh AS (
            INSERT INTO ingest_file_rows (file_id, line, outcome)
            SELECT f.id, s.src_line, 'L' FROM {stage} s
            JOIN ingest_files f ON (f.bucket, f.key, f.version) = (s.src_bucket, s.src_key, s.src_version)
            ON CONFLICT DO NOTHING
            RETURNING file_id
        )
        UPDATE ingest_files i SET rows_loaded = i.rows_loaded + n.count, updated_at = now()
        FROM (SELECT file_id, count(*) AS count FROM fresh GROUP BY file_id) n
        WHERE i.id = n.file_id
        """
    ).format(stage=staging_name(dataset))


def touched_files(dataset: Dataset) -> sql.Composed:
    return sql.SQL(
        "SELECT DISTINCT f.id FROM {stage} s "
        "JOIN ingest_files f ON (f.bucket, f.key, f.version) = (s.src_bucket, s.src_key, s.src_version)"
    ).format(stage=staging_name(dataset))
