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

output "bridge_policy_arn" {
  description = "IAM policy to attach to the bridge's role (SQS receive/delete on the queue, send on the DLQ)."
  value       = aws_iam_policy.bridge.arn
}

output "worker_policy_arn" {
  description = "IAM policy to attach to the worker's role (read object versions from the bucket; kms:Decrypt with SSE-KMS)."
  value       = aws_iam_policy.worker.arn
}

output "bridge_policy_json" {
  description = "The bridge's policy document, for roles managed elsewhere (inline policy, permission boundary review)."
  value       = data.aws_iam_policy_document.bridge.json
}

output "worker_policy_json" {
  description = "The worker's policy document, for roles managed elsewhere."
  value       = data.aws_iam_policy_document.worker.json
}
