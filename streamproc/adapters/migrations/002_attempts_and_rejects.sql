-- A file version is processed once: forced reprocesses add an attempt; duplicate notifications are counted, not re-run.
ALTER TABLE ingest_files ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0;
ALTER TABLE ingest_files ADD COLUMN IF NOT EXISTS duplicate_events integer NOT NULL DEFAULT 0;
ALTER TABLE ingest_files ADD COLUMN IF NOT EXISTS last_duplicate_at timestamptz;

-- Why rows of a file were dead-lettered: line, stage, error class and the broken rules. Never a value:
-- `errors` holds [{"field", "rule", "message"}] and messages never quote the cell.
CREATE TABLE IF NOT EXISTS ingest_file_rejects (
    file_id      bigint      NOT NULL,
    line         integer     NOT NULL,
    stage        text        NOT NULL CHECK (stage IN ('split', 'sink')),
    error_class  text        NOT NULL,
    errors       jsonb       NOT NULL DEFAULT '[]',
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_id, line)
);
