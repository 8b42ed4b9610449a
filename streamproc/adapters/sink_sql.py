"""SQL text for a dataset's table, its staging table and its idempotent batch upsert (built from the Dataset)."""

from __future__ import annotations

from psycopg import sql

from streamproc.datasets.model import Dataset
from streamproc.ingest.sink_batch import SEQUENCER_WIDTH

# Every stored row carries where it came from; the staging table has the same columns.
PROVENANCE = (
    ("src_bucket", "text"),
    ("src_key", "text"),
    ("src_version", "text"),
    ("src_line", "integer"),
    ("src_event_time", "timestamptz"),
    ("src_sequencer", "text"),  # null when the notification had none
)
NULLABLE = frozenset({"src_sequencer"})
_ORDER = ("src_event_time", "src_sequencer", "src_line", "src_key", "src_version")


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
    cols += [
        sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t))
        if n in NULLABLE
        else sql.SQL("{} {} NOT NULL").format(sql.Identifier(n), sql.SQL(t))
        for n, t in PROVENANCE
    ]
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
    """Staging (one row per key: the sink dedupes) -> table, latest provenance wins or append-only."""
    table, key = sql.Identifier(dataset.table), sql.Identifier(dataset.natural_key)
    cols = sql.SQL(", ").join(map(sql.Identifier, column_names(dataset)))
    select = sql.SQL("SELECT {cols} FROM {stage}").format(cols=cols, stage=staging_name(dataset))
    action: sql.Composable
    if dataset.conflict == "append_only":
        action = sql.SQL("DO NOTHING")
    else:
        sets = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in column_names(dataset)
        )
        newer = sql.SQL("({}) < ({})").format(
            sql.SQL(", ").join(_ordered(sql.SQL("{}.{}").format(table, sql.Identifier(c)), c) for c in _ORDER),
            sql.SQL(", ").join(_ordered(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)), c) for c in _ORDER),
        )
        action = sql.SQL("DO UPDATE SET {}, loaded_at = now() WHERE {}").format(sets, newer)
    return sql.SQL("INSERT INTO {table} ({cols}) {select} ON CONFLICT ({key}) {action}").format(
        table=table, cols=cols, select=select, key=key, action=action
    )


def _ordered(column: sql.Composable, name: str) -> sql.Composable:
    """A column as the upsert compares it: sequencers left-padded to one width (as sink_batch.order_of)."""
    if name == "src_sequencer":
        return sql.SQL("upper(lpad(coalesce({}, ''), {}, '0'))").format(column, sql.Literal(SEQUENCER_WIDTH))
    return column


def add_missing_columns(dataset: Dataset) -> sql.Composed:
    """Columns added to PROVENANCE since a table was created (CREATE TABLE IF NOT EXISTS leaves it as it was)."""
    return sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS src_sequencer text").format(sql.Identifier(dataset.table))
