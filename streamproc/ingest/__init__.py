"""The ingestion stages as pure logic over ports: parsing a file, the split (fan-out) of an object into row
events and dead letters, the sinks' batches, the ledger's rules. Adapters satisfy the ports; tests fake them."""
