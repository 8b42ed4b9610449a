resource "aws_sqs_queue" "dlq" {
  name                      = var.dlq_name
  message_retention_seconds = var.dlq_message_retention_seconds
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "events" {
  name                       = var.queue_name
  visibility_timeout_seconds = var.visibility_timeout_seconds
  # SSE-SQS rather than a customer KMS key: S3 can publish to it without a key policy grant.
  sqs_managed_sse_enabled = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  # The queue policy is set with the queue rather than by a separate aws_sqs_queue_policy: after creating or
  # changing any SQS resource the provider polls until six reads in a row, five seconds apart, agree (~25 s,
  # fixed in the provider), so each SQS resource on the dependency chain costs that much.
  policy = data.aws_iam_policy_document.events_queue.json
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # The event queue's ARN from its name, so that its own policy can name it before it exists.
  queue_arn = "arn:${data.aws_partition.current.partition}:sqs:${var.aws_region}:${data.aws_caller_identity.current.account_id}:${var.queue_name}"
}

# Only S3 events from our bucket, in our account, may be sent to the queue (devstack/provision.py sets the
# same statement without the account condition, which moto does not evaluate).
data "aws_iam_policy_document" "events_queue" {
  statement {
    sid       = "AllowS3BucketNotifications"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [local.queue_arn]

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.drop_zone.arn]
    }

    # Bucket names are global: a bucket of the same name re-created in another account must not match.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}
