-- Lines loaded per file version and Kafka partition, as a high-water mark (see streamproc/ingest/ledger.py,
-- count_fresh): a line is counted once however often it is produced, at the cost of one row per
-- (file, partition) instead of one row per line.
CREATE TABLE IF NOT EXISTS ingest_file_progress (
    file_id    bigint  NOT NULL,
    topic      text    NOT NULL,
    partition  integer NOT NULL,
    max_line   integer NOT NULL,
    PRIMARY KEY (file_id, topic, partition)
);

-- The per-line ledger it replaces. Files finished before this migration keep their counts; a replay of
-- them counts their lines again (their progress starts empty).
DROP TABLE IF EXISTS ingest_file_rows;
