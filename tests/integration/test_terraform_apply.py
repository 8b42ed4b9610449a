"""terraform/ applied for real to a scratch moto (init, validate, apply once per session), the real bridge
relaying an upload through the notification and queues Terraform made, and `destroy` leaving nothing behind."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
import pytest

from devstack import terraform
from devstack.process import free_port, port_open, spawn, stop, wait_for
from devstack.provision import AwsEndpoint, Provisioned
from devstack.settings import AwsNames
from devstack.stack import Endpoints
from streamproc.contract.events import OBJECT_EVENT_DECODER
from tests.integration.test_bridge_support import consume, eventually

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)


# Names the bridge reads today for the queues; the canonical STREAMPROC_QUEUE_URL / STREAMPROC_DLQ_URL are set
# as well. Drop these two once the bridge reads the canonical names (see tests/repo/test_compose_env_names.py).
@dataclass
class Applied:
    """A scratch moto that terraform/ was applied to, and how long each step took."""

    workspace: terraform.Workspace
    endpoint: AwsEndpoint
    made: Provisioned
    outputs: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


def _s3(endpoint: AwsEndpoint) -> S3Client:
    return boto3.client("s3", **endpoint.client_kwargs())


def _sqs(endpoint: AwsEndpoint) -> SQSClient:
    return boto3.client("sqs", **endpoint.client_kwargs())


def _iam(endpoint: AwsEndpoint) -> Any:
    # Any: boto3-stubs is installed with the s3 and sqs extras only.
    return boto3.client("iam", **endpoint.client_kwargs())


@dataclass
class _Scratch:
    """A moto server of the apply's own, so it cannot collide with the stack's provisioned names."""

    endpoint: AwsEndpoint
    home: Path

    @classmethod
    def start(cls, home: Path) -> _Scratch:
        port = free_port()
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        spawn(argv, pid_file=home / "moto.pid", log_file=home / "moto.log")
        scratch = cls(AwsEndpoint(url=f"http://127.0.0.1:{port}"), home)
        if not wait_for(lambda: port_open(port), 60.0):
            scratch.stop()
            raise RuntimeError((home / "moto.log").read_text())
        return scratch

    def stop(self) -> None:
        stop(self.home / "moto.pid", timeout=15.0)


def _timed(seconds: dict[str, float], step: str, action: Any) -> None:
    t0 = time.monotonic()
    action()
    seconds[step] = time.monotonic() - t0


def _apply(base: Path) -> tuple[Applied, _Scratch]:
    """init + validate + apply against a scratch moto (the provider waits ~25 s after each SQS queue)."""
    toolchain = terraform.locate()  # TerraformUnavailable: the tests skip, saying why
    base.mkdir(parents=True, exist_ok=True)
    scratch = _Scratch.start(base / "moto")
    try:
        workspace = terraform.Workspace(toolchain, base / "terraform", scratch.endpoint)
        workspace.prepare(terraform.emulator_variables(AwsNames()))
        seconds: dict[str, float] = {}
        for step in ("init", "validate", "apply"):
            _timed(seconds, step, getattr(workspace, step))
        outputs = workspace.outputs()
    except BaseException:
        scratch.stop()
        raise
    applied = Applied(workspace, scratch.endpoint, terraform.provisioned(outputs), outputs, seconds)
    return applied, scratch


_EARLY: dict[str, Future[tuple[Applied, _Scratch]]] = {}
T = TypeVar("T")


def apply_in_background(base: Path) -> None:
    """Start the apply when the session starts (tests/integration/conftest.py calls this when a test here is
    selected): it spends most of its minute waiting on the provider, so it runs while the other tests do."""
    if "apply" not in _EARLY:
        _EARLY["apply"] = _in_background("terraform-apply", _apply, base)


def _in_background(name: str, work: Callable[..., T], *args: Any) -> Future[T]:
    """`work(*args)` on a thread of its own, named `name`, that the session does not wait for until it asks."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    try:
        return pool.submit(work, *args)
    finally:
        pool.shutdown(wait=False)


_DESTROYS: list[Future[str]] = []


@pytest.fixture(scope="session")
def _destroyed(pytestconfig: pytest.Config) -> Iterator[None]:
    """At the session's end, waits for the destroys started in the background and fails if one left anything."""
    yield
    for future in _DESTROYS:
        _report(pytestconfig, future.result(timeout=terraform.TIMEOUTS["destroy"] + 60))


def _destroy(result: Applied, scratch: _Scratch) -> str:
    """terraform destroy (the provider waits on SQS again, ~20 s), then check that nothing is left."""
    try:
        _timed(result.seconds, "destroy", result.workspace.destroy)
        _assert_nothing_left(result.endpoint)
    finally:
        scratch.stop()
        shutil.rmtree(scratch.home.parent, ignore_errors=True)
    line = ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items())
    return f"terraform against moto (applied and destroyed in the background): {line}"


@pytest.fixture(scope="module")
def applied(_destroyed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    """One init + validate + apply per session (started early, in the background); destroyed after this module's
    tests, in the background too (checked at the session's end), while the other tests run."""
    if "apply" not in _EARLY:
        apply_in_background(tmp_path_factory.mktemp("terraform-apply"))
    try:
        result, scratch = _EARLY["apply"].result(timeout=terraform.TIMEOUTS["apply"] + 300)
    except terraform.TerraformUnavailable as exc:
        pytest.skip(f"Terraform apply not run: {exc}")
    yield result
    _DESTROYS.append(_in_background("terraform-destroy", _destroy, result, scratch))


def _report(config: pytest.Config, line: str) -> None:
    """A line on the terminal even for a passing run (output capture is suspended around it)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


def _assert_nothing_left(endpoint: AwsEndpoint) -> None:
    assert _s3(endpoint).list_buckets()["Buckets"] == []
    assert _sqs(endpoint).list_queues().get("QueueUrls", []) == []
    assert _iam(endpoint).list_policies(Scope="Local")["Policies"] == []


def test_terraform_outputs_are_the_values_of_the_canonical_env_names(applied: Applied) -> None:
    names, made = AwsNames(), applied.made
    assert made.bucket == names.bucket
    assert made.queue_url == f"{applied.endpoint.url}/123456789012/{names.queue}"
    assert made.dlq_url == f"{applied.endpoint.url}/123456789012/{names.dlq}"
    assert made.queue_arn.endswith(f":{names.queue}") and made.dlq_arn.endswith(f":{names.dlq}")


def test_the_applied_queue_has_the_redrive_visibility_and_s3_only_policy(applied: Applied) -> None:
    attrs = _sqs(applied.endpoint).get_queue_attributes(QueueUrl=applied.made.queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": applied.made.dlq_arn, "maxReceiveCount": 5}
    assert attrs["VisibilityTimeout"] == "30"
    assert attrs["SqsManagedSseEnabled"] == "true"
    (statement,) = json.loads(attrs["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Resource"] == applied.made.queue_arn
    assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:s3:::{applied.made.bucket}"}


def test_the_applied_bucket_is_versioned_encrypted_and_notifies_the_queue(applied: Applied) -> None:
    s3 = _s3(applied.endpoint)
    bucket = applied.made.bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    configs = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    suffixes = {c["Filter"]["Key"]["FilterRules"][0]["Value"]: c["QueueArn"] for c in configs}
    assert suffixes == dict.fromkeys(AwsNames().suffixes, applied.made.queue_arn)


def test_the_bridge_and_worker_policies_grant_exactly_what_each_process_calls(applied: Applied) -> None:
    iam = _iam(applied.endpoint)

    def actions(output: str) -> dict[str, set[str]]:
        policy = iam.get_policy(PolicyArn=applied.outputs[output])["Policy"]
        version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
        document = version["PolicyVersion"]["Document"]
        document = json.loads(document) if isinstance(document, str) else document
        # A statement of one action holds it as a string, not a list.
        return {
            s["Resource"]: {s["Action"]} if isinstance(s["Action"], str) else set(s["Action"])
            for s in document["Statement"]
        }

    assert actions("bridge_policy_arn") == {
        applied.made.queue_arn: {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueUrl",
            "sqs:GetQueueAttributes",
        },
        applied.made.dlq_arn: {"sqs:SendMessage", "sqs:GetQueueUrl"},
    }
    assert actions("worker_policy_arn") == {
        f"arn:aws:s3:::{applied.made.bucket}/*": {"s3:GetObject", "s3:GetObjectVersion"},
        f"arn:aws:s3:::{applied.made.bucket}/receipts/*": {"s3:PutObject"},  # the receipts only
        f"arn:aws:s3:::{applied.made.bucket}": {"s3:GetBucketLocation"},
    }  # that each call of a real run is granted: test_iam_calls.py


def _bridge_env(applied: Applied, stack: Endpoints, unique: str) -> dict[str, str]:
    env = {
        **os.environ,
        **stack.env(),
        "AWS_ENDPOINT_URL": applied.endpoint.url or "",
        "STREAMPROC_BUCKET": applied.made.bucket,
        "STREAMPROC_QUEUE_URL": applied.made.queue_url,
        "STREAMPROC_DLQ_URL": applied.made.dlq_url,
        "STREAMPROC_TOPIC_NAMESPACE": f"tf-{unique}.",
        "STREAMPROC_TOPIC_PARTITIONS": "1",
        "BRIDGE_WAIT_SECONDS": "1",
        "BRIDGE_DLQ_GROUP": f"dlq-mirror-{unique}",
        "BRIDGE_STATS_INTERVAL": "0",
        "PYTHONUNBUFFERED": "1",
    }
    return env


async def test_the_real_bridge_relays_an_upload_through_the_notification_terraform_made(
    applied: Applied, stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    key = f"pharmacy_claims/terraform-{unique}.csv"
    spawn(
        [sys.executable, "-m", "bridge"],
        pid_file=tmp_path / "bridge.pid",
        log_file=tmp_path / "bridge.log",
        env=_bridge_env(applied, stack, unique),
    )
    try:
        _s3(applied.endpoint).put_object(Bucket=applied.made.bucket, Key=key, Body=b"claim_id\nC1\n")
        (record,) = await consume(stack.kafka_bootstrap_servers, f"tf-{unique}.ingest.objects", want=1)
        event = OBJECT_EVENT_DECODER.decode(record.value)
        assert (record.key, event.bucket, event.key) == (
            f"{applied.made.bucket}/{key}".encode(),
            applied.made.bucket,
            key,
        )
        sqs = _sqs(applied.endpoint)
        await eventually(lambda: queue_depth_now(sqs, applied.made.queue_url) == 0, "the relayed message deleted")
    except (AssertionError, TimeoutError):
        logger.exception("bridge log:\n%s", (tmp_path / "bridge.log").read_text()[-3000:])  # shown with the failure
        raise
    finally:
        stop(tmp_path / "bridge.pid", timeout=30.0)


def queue_depth_now(sqs: SQSClient, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
