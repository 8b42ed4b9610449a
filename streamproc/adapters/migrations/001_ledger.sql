-- File ledger: one row per S3 object version, RECEIVED -> PROCESSING -> COMPLETED | PARTIAL | FAILED.
CREATE TABLE IF NOT EXISTS ingest_files (
    id                  bigserial PRIMARY KEY,
    bucket              text NOT NULL,
    key                 text NOT NULL,
    version             text NOT NULL,          -- S3 version id, else ETag
    dataset             text,
    status              text NOT NULL CHECK (status IN ('RECEIVED', 'PROCESSING', 'COMPLETED', 'PARTIAL', 'FAILED')),
    size                bigint,
    etag                text,
    event_time          timestamptz,
    rows_read           integer NOT NULL DEFAULT 0,
    rows_valid          integer NOT NULL DEFAULT 0,
    rows_rejected       integer NOT NULL DEFAULT 0,  -- dead-lettered by validation (split stage)
    rows_loaded         integer NOT NULL DEFAULT 0,  -- accepted by the sink (stored, superseded or duplicate)
    rows_sink_rejected  integer NOT NULL DEFAULT 0,  -- rejected by the database, dead-lettered by the sink
    rows_dead_lettered  integer GENERATED ALWAYS AS (rows_rejected + rows_sink_rejected) STORED,
    unknown_columns     integer NOT NULL DEFAULT 0,
    split_done          boolean NOT NULL DEFAULT false,
    error_summary       text,
    received_at         timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    finished_at         timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (bucket, key, version)
);

CREATE INDEX IF NOT EXISTS ingest_files_status_idx ON ingest_files (status, received_at DESC);

-- What happened to each row of each file, so that replays never count a row twice.
CREATE TABLE IF NOT EXISTS ingest_file_rows (
    file_id  bigint  NOT NULL,  -- no FK: checking one per row would double the cost of counting
    line     integer NOT NULL,
    outcome  char(1) NOT NULL CHECK (outcome IN ('L', 'D')),  -- loaded, dead-lettered by the sink
    PRIMARY KEY (file_id, line)
);
