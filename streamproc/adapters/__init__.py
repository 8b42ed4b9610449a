"""Adapters: the only code that talks to S3, SQS, Kafka and PostgreSQL; driver errors become ours."""
