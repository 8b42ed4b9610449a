"""streamproc: Faust stream processor that turns S3 CSV drops into validated Kafka events and PostgreSQL rows."""
