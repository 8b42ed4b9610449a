"""Every AWS call the real bridge and worker make in a run, judged against the IAM policies Terraform applied.

moto does not enforce IAM, so a call the policy does not grant passes every other test and fails only in real
AWS. Here each process runs with tests/iam/site on PYTHONPATH, which records every botocore call it makes (the
health checks included); the calls are mapped to IAM actions and ARNs and evaluated (tests/iam/evaluator.py)
against the policy documents read back from the IAM that `terraform apply` wrote them to.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from devstack import terraform
from devstack.bench.data import generate, upload
from devstack.stack import Endpoints
from tests.iam import recorder
from tests.iam.evaluator import Call, refusals
from tests.integration import test_terraform_apply as tf
from tests.integration.web_support import Answer, WebDeployment, eventually, web_deployment

SITE = Path(recorder.__file__).parent / "site"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def terraformed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tf.Applied]:
    """The session's Terraform apply (started by conftest when test_terraform_apply.py runs too, which then
    destroys it at session end); else one of this module's own, whose scratch moto is stopped after it."""
    shared = any("test_terraform_apply.py" in item.nodeid for item in request.session.items)
    tf.apply_in_background(tmp_path_factory.mktemp("terraform-iam"))
    try:
        result, scratch = tf._EARLY["apply"].result(timeout=terraform.TIMEOUTS["apply"] + 300)
    except terraform.TerraformUnavailable as exc:
        pytest.skip(f"Terraform apply not run: {exc}")
    yield result
    if not shared:
        scratch.stop()
        shutil.rmtree(scratch.home.parent, ignore_errors=True)


def _policy(applied: tf.Applied, output: str) -> dict[str, Any]:
    iam = tf._iam(applied.endpoint)
    policy = iam.get_policy(PolicyArn=applied.outputs[output])["Policy"]
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
    document = version["PolicyVersion"]["Document"]
    return json.loads(document) if isinstance(document, str) else dict(document)


def _calls(path: Path) -> list[Call]:
    return [Call(c["service"], c["operation"], c["params"]) for c in recorder.read(path)]


async def _finished(d: WebDeployment, bucket: str, key: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        answer = await d.try_get(f"/api/files/?bucket={quote(bucket)}&key={quote(key, safe='')}")
        files = answer.json()["files"] if answer is not None and answer.status == 200 else []
        return files[0] if files and files[0]["status"] in ("COMPLETED", "PARTIAL", "FAILED") else None

    return await eventually(f"{key} finished", done, logs=d.log_tail)


async def _receipt(applied: tf.Applied, bucket: str, key: str) -> bool | None:
    def head() -> bool | None:
        try:
            tf._s3(applied.endpoint).head_object(Bucket=bucket, Key=key)
        except ClientError:
            return None
        return True

    return await asyncio.to_thread(head)


async def _mirrored(d: WebDeployment) -> Answer:
    async def sent() -> Answer | None:
        answer = await d.try_get("/metrics", base=d.bridge_url)
        lines = answer.text.splitlines() if answer is not None else []
        counts = [float(x.split()[-1]) for x in lines if x.startswith("bridge_mirror_sent_total")]
        return answer if counts and counts[0] > 0 else None

    return await eventually("a dead letter mirrored to the SQS DLQ", sent, logs=d.log_tail)


async def test_every_aws_call_of_the_bridge_and_the_worker_is_granted_by_its_terraform_policy(
    terraformed: tf.Applied, stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    made = terraformed.made
    env = {
        "PYTHONPATH": f"{SITE}:{ROOT}",
        "AWS_ENDPOINT_URL": terraformed.endpoint.url or "",
        "STREAMPROC_BUCKET": made.bucket,
        "STREAMPROC_QUEUE_URL": made.queue_url,
        "STREAMPROC_DLQ_URL": made.dlq_url,
        "BRIDGE_VISIBILITY_TIMEOUT": "2",  # extended every ~0.7 s while pending: ChangeMessageVisibility is called
    }
    (claims,) = generate(tmp_path / "files", total_rows=200, files=1, claims_share=1.0, bad_share=0.05)
    logs = {name: tmp_path / f"{name}-calls.jsonl" for name in ("bridge", "worker")}
    async with web_deployment(stack, unique, tmp_path / "logs", **env) as d:
        for name in ("bridge", "worker"):
            d.env[recorder.ENV] = str(logs[name])
            d.start(name)
        await d.wait_web()
        await upload(terraformed.endpoint.client_kwargs(), made.bucket, [claims])
        assert (await _finished(d, made.bucket, claims.key))["status"] == "PARTIAL"
        await eventually(
            "the file's receipt", lambda: _receipt(terraformed, made.bucket, f"receipts/{claims.key}.json")
        )
        await _mirrored(d)
        assert (await d.get("/healthz", base=d.bridge_url)).status == 200
        assert (await d.get("/healthz/")).status == 200
    bridge, worker = _calls(logs["bridge"]), _calls(logs["worker"])
    region, account = made.queue_arn.split(":")[3:5]
    denied = {
        "bridge": refusals([_policy(terraformed, "bridge_policy_arn")], bridge, region=region, account=account),
        "worker": refusals([_policy(terraformed, "worker_policy_arn")], worker, region=region, account=account),
    }
    assert {n: v for n, v in denied.items() if v} == {}
    # Not vacuous: the run made the calls this test is about.
    assert {"ReceiveMessage", "DeleteMessageBatch", "SendMessageBatch"} <= {c.operation for c in bridge}
    assert any(c.operation == "GetObject" and {"VersionId", "IfMatch"} & set(c.params) for c in worker)
    assert any(c.operation == "PutObject" and c.params["Key"].startswith("receipts/") for c in worker)
