# Least-privilege policies for the two long-running processes. Attach each to the role the process runs as
# (ECS task role, EKS service account via IRSA / Pod Identity, EC2 instance profile); see docs/deploying.md.
# Neither needs to create or change AWS resources: that is this configuration's job.

# bridge (python -m bridge): the relay long-polls and deletes S3 notifications; the DLQ mirror sends dead
# letters to the SQS dead-letter queue. Batch calls (DeleteMessageBatch, SendMessageBatch) are authorised by
# the single-message actions. GetQueueUrl covers configuration by queue name instead of URL. GetQueueAttributes
# is the /healthz probe (two message counts; no message content) and the relay's start-up read of the queue's
# VisibilityTimeout, on the notification queue only, as in AWS's
# own consumer policy (AWSLambdaSQSQueueExecutionRole). ChangeMessageVisibility keeps a received message hidden
# while its produce or delete is pending (BRIDGE_VISIBILITY_TIMEOUT). tests/integration/test_iam_calls.py
# records every call of a real run and evaluates it against this document.
data "aws_iam_policy_document" "bridge" {
  statement {
    sid    = "RelayBucketNotifications"
    effect = "Allow"
    actions = [
      "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.events.arn]
  }

  statement {
    sid       = "MirrorDeadLetters"
    effect    = "Allow"
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.dlq.arn]
  }
}

# worker (python -m streamproc worker): streams each notified object version from the bucket and writes each
# file's receipt under the receipt prefix; everything else it talks to is Kafka and PostgreSQL. No s3:ListBucket: a deleted object then reads as AccessDenied rather
# than NoSuchKey, both of which the worker treats as an unreadable file, and key names stay unlisted. So the
# stats page's S3 health is GetBucketLocation (HeadBucket needs s3:ListBucket): it reveals the bucket's region
# only. tests/integration/test_iam_calls.py records every call of a real run and evaluates it against this.
data "aws_iam_policy_document" "worker" {
  statement {
    sid       = "ReadDroppedFiles"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.drop_zone.arn}/*"]
  }

  # Each file's receipt for its sender (streamproc/ingest/receipts.py), under the receipt prefix only.
  statement {
    sid       = "WriteReceipts"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.drop_zone.arn}/${var.receipt_prefix}*"]
  }

  statement {
    sid       = "CheckBucketHealth"
    effect    = "Allow"
    actions   = ["s3:GetBucketLocation"]
    resources = [aws_s3_bucket.drop_zone.arn]
  }

  # Only with SSE-KMS (kms_key_arn set): S3 decrypts with the caller's permission.
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "DecryptDroppedFiles"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_policy" "bridge" {
  name        = "${var.iam_name_prefix}-bridge"
  description = "streamproc bridge: receive/delete S3 notifications from ${var.queue_name}, send dead letters to ${var.dlq_name}."
  policy      = data.aws_iam_policy_document.bridge.json
}

resource "aws_iam_policy" "worker" {
  name        = "${var.iam_name_prefix}-worker"
  description = "streamproc worker: read dropped files (all versions) from ${var.bucket_name}, write receipts under ${var.receipt_prefix}."
  policy      = data.aws_iam_policy_document.worker.json
}
