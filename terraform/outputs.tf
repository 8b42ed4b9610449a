# Names match the local stack's env file (.stack/env): STREAMPROC_BUCKET, STREAMPROC_QUEUE_URL, STREAMPROC_DLQ_URL.

output "bucket_name" {
  description = "The drop-zone bucket (STREAMPROC_BUCKET)."
  value       = aws_s3_bucket.drop_zone.id
}

output "bucket_arn" {
  description = "ARN of the drop-zone bucket."
  value       = aws_s3_bucket.drop_zone.arn
}

output "queue_url" {
  description = "URL of the S3 event queue the bridge long-polls (STREAMPROC_QUEUE_URL)."
  value       = aws_sqs_queue.events.url
}

output "queue_arn" {
  description = "ARN of the S3 event queue."
  value       = aws_sqs_queue.events.arn
}

output "dlq_url" {
  description = "URL of the dead-letter queue (STREAMPROC_DLQ_URL)."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}
