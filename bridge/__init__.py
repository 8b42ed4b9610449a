"""bridge: relays S3 notifications from SQS onto Kafka and mirrors Kafka dead letters back to the SQS DLQ."""
