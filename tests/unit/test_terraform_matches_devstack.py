"""Terraform declares the AWS resources devstack provisions locally, with the same names and defaults."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from devstack.settings import REPO_ROOT, AwsNames

TERRAFORM_DIR = REPO_ROOT / "terraform"
# Offline, `terraform init` fails in well under a second; the cap only bounds a hanging network.
INIT_TIMEOUT = 60.0
COMMAND_TIMEOUT = 60.0
# No checkpoint (version check) call home, no prompts: tests must not wait on the network or a human.
TERRAFORM_ENV = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
# Phrases of `terraform init` output that mean "could not download providers", not "bad configuration":
# a configuration error fails the test instead of skipping it.
PROVIDERS_UNREACHABLE = (
    "Failed to query available provider packages",
    "Failed to install provider",
    "could not connect to registry",
)

_VARIABLE = re.compile(r'^variable\s+"(?P<name>[\w-]+)"\s*\{(?P<body>.*?)^\}', re.MULTILINE | re.DOTALL)
_DEFAULT = re.compile(r"^\s*default\s*=\s*(?P<value>.+?)\s*(?:#.*)?$", re.MULTILINE)
_QUOTED = re.compile(r'"([^"]*)"')


def configuration() -> str:
    """Every .tf file of the configuration, concatenated in name order."""
    return "\n".join(path.read_text() for path in sorted(TERRAFORM_DIR.glob("*.tf")))


def variable_defaults() -> dict[str, str]:
    """Each variable's `default = ...` as written (one-line defaults only)."""
    defaults: dict[str, str] = {}
    for block in _VARIABLE.finditer(configuration()):
        found = _DEFAULT.search(block["body"])
        if found is not None:
            defaults[block["name"]] = found["value"]
    return defaults


def block(kind: str, name: str) -> str:
    """The body of `resource "<kind>" "<name>" { ... }`, which `terraform fmt` closes at column 0."""
    pattern = re.compile(rf'^resource\s+"{kind}"\s+"{name}"\s*\{{(?P<body>.*?)^\}}', re.MULTILINE | re.DOTALL)
    found = pattern.search(configuration())
    assert found is not None, f'resource "{kind}" "{name}" is not declared in {TERRAFORM_DIR}'
    return found["body"]


def string(raw: str) -> str:
    found = _QUOTED.fullmatch(raw)
    assert found is not None, f"{raw!r} is not a quoted string"
    return found[1]


def strings(raw: str) -> tuple[str, ...]:
    assert raw.startswith("[") and raw.endswith("]"), f"{raw!r} is not a one-line list"
    return tuple(_QUOTED.findall(raw))


def has(body: str, attribute: str, value: str) -> bool:
    """Whether `attribute = value` appears in a block, whatever the alignment `terraform fmt` chose."""
    return re.search(rf"^\s*{re.escape(attribute)}\s*=\s*{re.escape(value)}\s*$", body, re.MULTILINE) is not None


def require_terraform() -> None:
    if shutil.which("terraform") is None:
        pytest.skip("terraform not installed: the .tf files were only checked textually")


def first_error(output: str) -> str:
    """Terraform's first `Error:` paragraph on one line, short enough for a skip reason."""
    text = " ".join(output.split())
    start = text.find("Error:")
    return text[start if start >= 0 else 0 :][:300]


def test_terraform_defaults_name_the_bucket_and_queues_devstack_provisions() -> None:
    names, defaults = AwsNames(), variable_defaults()
    assert string(defaults["bucket_name"]) == names.bucket
    assert string(defaults["queue_name"]) == names.queue
    assert string(defaults["dlq_name"]) == names.dlq
    assert has(block("aws_s3_bucket", "drop_zone"), "bucket", "var.bucket_name")
    assert has(block("aws_sqs_queue", "events"), "name", "var.queue_name")
    assert has(block("aws_sqs_queue", "dlq"), "name", "var.dlq_name")


def test_redrive_and_visibility_defaults_match_devstack() -> None:
    names, defaults = AwsNames(), variable_defaults()
    assert int(defaults["max_receive_count"]) == names.max_receive_count
    assert int(defaults["visibility_timeout_seconds"]) == names.visibility_timeout
    events = block("aws_sqs_queue", "events")
    assert has(events, "deadLetterTargetArn", "aws_sqs_queue.dlq.arn")
    assert has(events, "maxReceiveCount", "var.max_receive_count")
    assert has(events, "visibility_timeout_seconds", "var.visibility_timeout_seconds")


def test_bucket_notifies_the_queue_of_created_objects_with_the_devstack_suffixes() -> None:
    assert strings(variable_defaults()["object_suffixes"]) == AwsNames().suffixes
    notification = block("aws_s3_bucket_notification", "drop_zone")
    assert has(notification, "for_each", "var.object_suffixes")
    assert has(notification, "filter_suffix", "queue.value")
    assert has(notification, "events", '["s3:ObjectCreated:*"]')
    assert has(notification, "queue_arn", "aws_sqs_queue.events.arn")
    assert has(notification, "depends_on", "[aws_sqs_queue_policy.events]")


def test_only_s3_events_from_our_bucket_may_be_sent_to_the_queue() -> None:
    policy = block("aws_sqs_queue_policy", "events")
    assert has(policy, "Principal", '{ Service = "s3.amazonaws.com" }')
    assert has(policy, "Action", '"sqs:SendMessage"')
    assert has(policy, "Condition", '{ ArnLike = { "aws:SourceArn" = aws_s3_bucket.drop_zone.arn } }')


def test_bucket_and_queues_are_encrypted_versioned_private_and_tls_only() -> None:
    encryption = block("aws_s3_bucket_server_side_encryption_configuration", "drop_zone")
    assert has(encryption, "sse_algorithm", 'var.kms_key_arn == null ? "AES256" : "aws:kms"')
    assert has(block("aws_s3_bucket_versioning", "drop_zone"), "status", '"Enabled"')
    public_access = block("aws_s3_bucket_public_access_block", "drop_zone")
    for setting in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert has(public_access, setting, "true"), setting
    bucket_policy = block("aws_s3_bucket_policy", "drop_zone")
    assert has(bucket_policy, "Effect", '"Deny"')
    assert has(bucket_policy, "Condition", '{ Bool = { "aws:SecureTransport" = "false" } }')
    for queue in ("events", "dlq"):
        assert has(block("aws_sqs_queue", queue), "sqs_managed_sse_enabled", "true"), queue


def test_an_emulator_endpoint_is_opt_in_and_covers_s3_sqs_and_sts() -> None:
    assert variable_defaults()["aws_endpoint_url"] == "null"
    text = configuration()
    for service in ("s3", "sqs", "sts"):
        assert re.search(rf"^\s*{service}\s*=\s*endpoints\.value\s*$", text, re.MULTILINE), service
    for flag in ("s3_use_path_style", "skip_credentials_validation", "skip_requesting_account_id"):
        assert re.search(rf"^\s*{flag}\s*=\s*local\.emulated\s*$", text, re.MULTILINE), flag


# The commands below are literal argv lists (no interpolated input); `env` resolves terraform on PATH,
# exactly where `shutil.which` found it.


def test_terraform_files_are_formatted() -> None:
    require_terraform()
    done = subprocess.run(
        ["/usr/bin/env", "terraform", "fmt", "-check", "-recursive", "-diff", "terraform"],
        cwd=REPO_ROOT,
        env=TERRAFORM_ENV,
        capture_output=True,
        text=True,
        check=False,
        timeout=COMMAND_TIMEOUT,
    )
    assert done.returncode == 0, f"run `terraform fmt -recursive terraform`:\n{done.stdout}{done.stderr}"


def test_terraform_configuration_validates_when_providers_can_be_installed(tmp_path: Path) -> None:
    require_terraform()
    workdir = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, workdir, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfvars"))
    try:
        init = subprocess.run(
            ["/usr/bin/env", "terraform", "init", "-backend=false", "-input=false", "-no-color"],
            cwd=workdir,
            env=TERRAFORM_ENV,
            capture_output=True,
            text=True,
            check=False,
            timeout=INIT_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"providers not reachable (registry.terraform.io): init timed out after {INIT_TIMEOUT:.0f}s")
    output = init.stdout + init.stderr
    if init.returncode != 0 and any(marker in output for marker in PROVIDERS_UNREACHABLE):
        pytest.skip(f"providers not reachable (registry.terraform.io): {first_error(output)}")
    assert init.returncode == 0, f"terraform init failed on the configuration itself:\n{output}"
    done = subprocess.run(
        ["/usr/bin/env", "terraform", "validate", "-no-color"],
        cwd=workdir,
        env=TERRAFORM_ENV,
        capture_output=True,
        text=True,
        check=False,
        timeout=COMMAND_TIMEOUT,
    )
    assert done.returncode == 0, f"terraform validate:\n{done.stdout}{done.stderr}"
