resource "aws_s3_bucket" "drop_zone" {
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "drop_zone" {
  bucket = aws_s3_bucket.drop_zone.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "drop_zone" {
  bucket = aws_s3_bucket.drop_zone.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "drop_zone" {
  bucket = aws_s3_bucket.drop_zone.id

  # Every object version is its own ingest event (ingest.objects is keyed per version).
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "drop_zone" {
  bucket = aws_s3_bucket.drop_zone.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    # S3 Bucket Keys cut KMS requests (and cost) per object; meaningless for SSE-S3.
    bucket_key_enabled = var.kms_key_arn != null
  }
}

resource "aws_s3_bucket_policy" "drop_zone" {
  # moto evaluates bucket policies too, and it speaks plain HTTP: emulators set require_tls = false.
  count = var.require_tls ? 1 : 0

  bucket = aws_s3_bucket.drop_zone.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.drop_zone.arn, "${aws_s3_bucket.drop_zone.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  # S3 refuses a bucket policy while a public access block change is still being applied.
  depends_on = [aws_s3_bucket_public_access_block.drop_zone]
}

resource "aws_s3_bucket_notification" "drop_zone" {
  bucket = aws_s3_bucket.drop_zone.id

  # One configuration per suffix (.csv, .csv.gz); ids match devstack/provision.py. S3 sends a test event when
  # the notification is saved, so the queue must already accept it: queue_arn orders this after the queue,
  # which is created with its policy.
  dynamic "queue" {
    for_each = var.object_suffixes
    content {
      id            = "ingest-${replace(trim(queue.value, "."), ".", "-")}"
      queue_arn     = aws_sqs_queue.events.arn
      events        = ["s3:ObjectCreated:*"]
      filter_suffix = queue.value
    }
  }
}
