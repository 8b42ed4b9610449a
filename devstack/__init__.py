"""Local stack of real services (Kafka, PostgreSQL, moto S3+SQS) for development and tests."""
