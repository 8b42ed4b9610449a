# Defaults are the names devstack/settings.py (AwsNames) provisions locally;
# tests/repo/test_terraform_matches_devstack.py keeps the two in step.

variable "aws_region" {
  description = "AWS region for the bucket and the queues."
  type        = string
  default     = "us-east-1"
}

variable "aws_endpoint_url" {
  description = "Endpoint of an AWS emulator (e.g. http://127.0.0.1:35000 for the local moto server) for S3, SQS, IAM and STS. null = real AWS."
  type        = string
  default     = null

  validation {
    condition     = var.aws_endpoint_url == null || can(regex("^https?://[^/]+", var.aws_endpoint_url))
    error_message = "aws_endpoint_url must be null (real AWS) or an http(s):// URL such as http://127.0.0.1:35000."
  }
}

variable "bucket_name" {
  description = "S3 bucket where CSV files are dropped."
  type        = string
  default     = "healthcare-ingestion-drop-zone"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name: 3-63 lowercase letters, digits, dots or hyphens."
  }
}

variable "queue_name" {
  description = "SQS queue that receives the bucket's s3:ObjectCreated:* notifications."
  type        = string
  default     = "s3-event-queue"
}

variable "dlq_name" {
  description = "SQS dead-letter queue for notifications received max_receive_count times without being deleted."
  type        = string
  default     = "s3-event-dlq"
}

variable "max_receive_count" {
  description = "Receives of one message before SQS moves it to the dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000 && floor(var.max_receive_count) == var.max_receive_count
    error_message = "max_receive_count must be a whole number from 1 to 1000."
  }
}

variable "visibility_timeout_seconds" {
  description = "How long a received notification stays hidden while the bridge produces it to Kafka."
  type        = number
  default     = 30

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200 && floor(var.visibility_timeout_seconds) == var.visibility_timeout_seconds
    error_message = "visibility_timeout_seconds must be a whole number from 0 to 43200."
  }
}

variable "dlq_message_retention_seconds" {
  description = "How long the dead-letter queue keeps a message. SQS keeps a message's original enqueue time when it moves it, so this should exceed the source queue's retention."
  type        = number
  default     = 1209600 # 14 days, the SQS maximum

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600
    error_message = "dlq_message_retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

variable "object_suffixes" {
  description = "Key suffixes that trigger a notification; one queue configuration each (data files and their manifests, <key>.manifest.json; receipts, <prefix><key>.json, must stay outside)."
  type        = list(string)
  default     = [".csv", ".csv.gz", ".manifest.json"]

  validation {
    condition     = length(var.object_suffixes) > 0 && alltrue([for s in var.object_suffixes : length(s) > 0])
    error_message = "object_suffixes must list at least one non-empty suffix."
  }

  validation {
    # S3 rejects two configurations for the same event whose suffixes overlap (one ends with the other).
    condition     = alltrue(flatten([for a in var.object_suffixes : [for b in var.object_suffixes : a == b || !endswith(a, b)]]))
    error_message = "object_suffixes must not overlap: no suffix may end with another one."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the bucket's default encryption (SSE-KMS). null = SSE-S3 (AES256). The worker's role then needs kms:Decrypt on it."
  type        = string
  default     = null
}

variable "require_tls" {
  description = "Deny every request to the bucket that is not made over TLS (aws:SecureTransport). false only for an emulator that speaks plain HTTP."
  type        = bool
  default     = true
}

variable "iam_name_prefix" {
  description = "Prefix of the IAM policy names (<prefix>-bridge, <prefix>-worker); IAM names are unique per account, so give each environment its own."
  type        = string
  default     = "streamproc"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,100}$", var.iam_name_prefix))
    error_message = "iam_name_prefix must be 1-100 letters, digits or +=,.@_- characters."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete a non-empty bucket with all object versions. Keep false outside throwaway environments."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default = {
    Project = "streamproc"
  }
}

variable "receipt_prefix" {
  description = "Key prefix in the bucket where the worker writes each file's receipt (STREAMPROC_RECEIPT_PREFIX): <prefix><key>.json. Outside the notification suffixes, so a receipt is never ingested."
  type        = string
  default     = "receipts/"

  validation {
    condition     = length(var.receipt_prefix) > 0 && !startswith(var.receipt_prefix, "/") && endswith(var.receipt_prefix, "/")
    error_message = "receipt_prefix is a non-empty key prefix ending in / (e.g. receipts/)."
  }
}
