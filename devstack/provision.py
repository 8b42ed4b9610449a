"""Create the AWS side (bucket, queues, redrive, notification) idempotently, as Terraform names it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import boto3

from devstack.settings import AwsNames

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_sqs import SQSClient


# moto accepts any credentials; this is the conventional emulator placeholder, not a secret.
EMULATOR_KEY = "testing"


@dataclass(frozen=True, kw_only=True)
class AwsEndpoint:
    """Where the S3/SQS API answers and with which credentials."""

    url: str | None
    region: str = "us-east-1"
    access_key_id: str = "testing"
    secret_access_key: str = EMULATOR_KEY

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for a boto3 / aioboto3 client that talks to this endpoint."""
        return {
            "endpoint_url": self.url,
            "region_name": self.region,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
        }


@dataclass(frozen=True, kw_only=True)
class Provisioned:
    """What provisioning created: names plus the URLs and ARNs clients need."""

    bucket: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str


def clients(endpoint: AwsEndpoint) -> tuple[S3Client, SQSClient]:
    kwargs = endpoint.client_kwargs()
    return boto3.client("s3", **kwargs), boto3.client("sqs", **kwargs)


def provision(endpoint: AwsEndpoint, names: AwsNames) -> Provisioned:
    """Bucket, DLQ, event queue with redrive and S3 policy, and the bucket notification."""
    s3, sqs = clients(endpoint)
    _ensure_bucket(s3, names.bucket, endpoint.region)
    dlq_url = sqs.create_queue(QueueName=names.dlq)["QueueUrl"]
    dlq_arn = _arn(sqs, dlq_url)
    queue_url = sqs.create_queue(QueueName=names.queue)["QueueUrl"]
    queue_arn = _arn(sqs, queue_url)
    sqs.set_queue_attributes(
        QueueUrl=queue_url,
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": names.max_receive_count}),
            "VisibilityTimeout": str(names.visibility_timeout),
            "Policy": json.dumps(_queue_policy(queue_arn, names.bucket)),
        },
    )
    s3.put_bucket_notification_configuration(
        Bucket=names.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": f"ingest-{suffix.strip('.').replace('.', '-')}",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": suffix}]}},
                }
                for suffix in names.suffixes
            ]
        },
    )
    return Provisioned(bucket=names.bucket, queue_url=queue_url, queue_arn=queue_arn, dlq_url=dlq_url, dlq_arn=dlq_arn)


def _ensure_bucket(s3: S3Client, bucket: str, region: str) -> None:
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", []) if "Name" in b}
    if bucket in existing:
        return
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        # The stubs type regions as a Literal; ours comes from settings, so name it as one.
        location = cast("BucketLocationConstraintType", region)
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": location})


def _arn(sqs: SQSClient, queue_url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    return attrs["QueueArn"]


def _queue_policy(queue_arn: str, bucket: str) -> dict[str, object]:
    """Only S3 events from our bucket may be sent to the queue (same policy as Terraform's)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowS3BucketNotifications",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
            }
        ],
    }
