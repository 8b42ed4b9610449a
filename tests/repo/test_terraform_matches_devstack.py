"""Terraform declares the AWS resources devstack provisions locally, with the same names and defaults; the local
Terraform toolchain is found (or its absence named), formats, initialises offline from the mirror and validates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devstack import terraform
from devstack.__main__ import build_parser, main
from devstack.provision import AwsEndpoint
from devstack.settings import AwsNames

TERRAFORM_DIR = terraform.TERRAFORM_DIR

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


def block(kind: str, name: str, kind_of: str = "resource") -> str:
    """The body of `resource "<kind>" "<name>" { ... }` (or a data block), which `terraform fmt` closes at column 0."""
    pattern = re.compile(rf'^{kind_of}\s+"{kind}"\s+"{name}"\s*\{{(?P<body>.*?)^\}}', re.MULTILINE | re.DOTALL)
    found = pattern.search(configuration())
    assert found is not None, f'{kind_of} "{kind}" "{name}" is not declared in {TERRAFORM_DIR}'
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


def test_only_s3_events_from_our_bucket_may_be_sent_to_the_queue() -> None:
    assert has(block("aws_sqs_queue", "events"), "policy", "data.aws_iam_policy_document.events_queue.json")
    policy = block("aws_iam_policy_document", "events_queue", kind_of="data")
    assert has(policy, "identifiers", '["s3.amazonaws.com"]')
    assert has(policy, "actions", '["sqs:SendMessage"]')
    assert has(policy, "resources", "[local.queue_arn]")
    assert has(policy, "variable", '"aws:SourceArn"')
    assert has(policy, "values", "[aws_s3_bucket.drop_zone.arn]")


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


def test_an_emulator_endpoint_is_opt_in_and_covers_iam_s3_sqs_and_sts() -> None:
    assert variable_defaults()["aws_endpoint_url"] == "null"
    text = configuration()
    for service in ("iam", "s3", "sqs", "sts"):
        assert re.search(rf"^\s*{service}\s*=\s*endpoints\.value\s*$", text, re.MULTILINE), service
    for flag in ("s3_use_path_style", "skip_credentials_validation", "skip_requesting_account_id"):
        assert re.search(rf"^\s*{flag}\s*=\s*local\.emulated\s*$", text, re.MULTILINE), flag


def test_terraform_files_are_formatted() -> None:
    try:
        binary = terraform.find_binary()
    except terraform.TerraformUnavailable as exc:
        pytest.skip(f"terraform fmt not run, the .tf files were only checked textually: {exc}")
    done = terraform.fmt_check(binary)
    assert done.returncode == 0, f"run `terraform fmt -recursive terraform`:\n{done.stdout}{done.stderr}"


def test_terraform_initialises_from_the_local_provider_mirror_and_validates(tmp_path: Path) -> None:
    try:
        toolchain = terraform.locate()
    except terraform.TerraformUnavailable as exc:
        pytest.skip(f"terraform init/validate not run: {exc}")
    workspace = terraform.Workspace(toolchain, tmp_path, AwsEndpoint(url=None))
    workspace.prepare({})
    workspace.init(backend=False)
    workspace.validate()


def test_a_missing_terraform_binary_is_named_with_the_setting_that_fixes_it() -> None:
    with pytest.raises(terraform.TerraformUnavailable, match=r"terraform not found .* set STREAMPROC_TERRAFORM"):
        terraform.locate({"STREAMPROC_TERRAFORM": "/nonexistent/terraform", "PATH": ""})


def test_a_plugin_dir_without_the_aws_provider_is_named_and_nothing_is_downloaded(tmp_path: Path) -> None:
    env = {"STREAMPROC_TERRAFORM": "/bin/sh", "STREAMPROC_TF_PLUGIN_DIR": str(tmp_path)}
    with pytest.raises(terraform.TerraformUnavailable, match="registry downloads are never attempted") as exc:
        terraform.locate(env)
    assert str(tmp_path) in str(exc.value)
    assert "STREAMPROC_TF_PLUGIN_DIR" in str(exc.value)


def test_terraforms_own_user_plugin_dir_is_searched_and_its_mirror_layout_recognised(tmp_path: Path) -> None:
    user_dir = tmp_path / ".terraform.d" / "plugins"
    platform_dir = user_dir / terraform.PROVIDER / "5.100.0" / terraform.target_platform()
    platform_dir.mkdir(parents=True)
    (platform_dir / "terraform-provider-aws_v5.100.0_x5").touch()
    assert user_dir in terraform.default_plugin_dirs({"HOME": str(tmp_path)})
    env = {"STREAMPROC_TERRAFORM": "/bin/sh", "STREAMPROC_TF_PLUGIN_DIR": str(user_dir)}
    assert terraform.locate(env) == terraform.Toolchain(binary=Path("/bin/sh"), plugin_dir=user_dir)


def test_devstack_up_takes_a_provisioner_and_defaults_to_the_python_one() -> None:
    assert build_parser().parse_args(["up"]).provision == "python"
    assert build_parser().parse_args(["up", "--provision", "terraform"]).provision == "terraform"


def test_up_with_terraform_missing_fails_clearly_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAMPROC_STACK_DIR", str(tmp_path))
    monkeypatch.setenv("STREAMPROC_TERRAFORM", str(tmp_path / "no-terraform"))
    assert main(["up", "--provision", "terraform"]) == 2
    assert capsys.readouterr().err.startswith("devstack: terraform not found")
    assert list(tmp_path.iterdir()) == []
