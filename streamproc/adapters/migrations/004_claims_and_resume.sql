-- Who is splitting a file version now, and where an interrupted split goes on (see streamproc/ingest/ledger.py).
ALTER TABLE ingest_files ADD COLUMN IF NOT EXISTS claimed_by text;            -- the worker's group.instance.id
ALTER TABLE ingest_files ADD COLUMN IF NOT EXISTS heartbeat_at timestamptz;   -- that worker's last sign of life
ALTER TABLE ingest_files ADD COLUMN IF NOT EXISTS resume jsonb;               -- {"line": n, "offsets": {...}}
