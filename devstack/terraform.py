"""Run the project's Terraform configuration offline: find terraform and a local AWS provider, apply, destroy."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.process import StackError
from devstack.provision import AwsEndpoint, Provisioned
from devstack.settings import REPO_ROOT, AwsNames

TERRAFORM_DIR = REPO_ROOT / "terraform"
BINARY_VAR = "STREAMPROC_TERRAFORM"
PLUGIN_DIR_VAR = "STREAMPROC_TF_PLUGIN_DIR"
# Where this machine kind keeps its provider mirror, then Terraform's own implied local mirror directories.
EXTRA_PLUGIN_DIRS = (Path("/opt/tf-plugins"),)
PROVIDER = Path("registry.terraform.io", "hashicorp", "aws")
VARIABLES_FILE = "streamproc.auto.tfvars.json"
# The AWS provider binary is ~700 MB: each command spends seconds just loading it; apply also waits ~25 s
# after each SQS queue. These bound a hung process, not a slow one.
TIMEOUTS = {"init": 120.0, "validate": 120.0, "apply": 600.0, "destroy": 600.0, "output": 60.0, "fmt": 60.0}
# No `direct {}` block: providers come from the local mirror or not at all.
_CLI_CONFIG = """\
provider_installation {
  filesystem_mirror {
    path    = %s
    include = ["%s"]
  }
}
"""
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class TerraformUnavailable(StackError):
    """terraform or a local AWS provider is missing; the message names which and where it looked."""


class TerraformFailed(StackError):
    """A terraform command exited non-zero; the message carries the end of its output."""


@dataclass(frozen=True)
class Toolchain:
    """A terraform binary and a directory laid out as a provider mirror that holds hashicorp/aws."""

    binary: Path
    plugin_dir: Path


def target_platform() -> str:
    """Terraform's name for this machine's platform, e.g. linux_amd64."""
    machine = platform.machine().lower()
    return f"{platform.system().lower()}_{_ARCH.get(machine, machine)}"


def default_plugin_dirs(env: Mapping[str, str]) -> list[Path]:
    """Candidate provider mirrors, in search order (Terraform's implied local mirrors after our own)."""
    home = Path(env.get("HOME") or Path.home())
    data_home = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    data_dirs = [Path(d) for d in (env.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":") if d]
    return [
        *EXTRA_PLUGIN_DIRS,
        home / ".terraform.d" / "plugins",
        data_home / "terraform" / "plugins",
        *(d / "terraform" / "plugins" for d in data_dirs),
    ]


def has_aws_provider(plugin_dir: Path) -> bool:
    """Whether `plugin_dir` holds hashicorp/aws for this platform, unpacked or packed (zip)."""
    provider, plat = plugin_dir / PROVIDER, target_platform()
    unpacked = any(provider.glob(f"*/{plat}/terraform-provider-aws*"))
    return unpacked or any(provider.glob(f"terraform-provider-aws_*_{plat}.zip"))


def find_binary(env: Mapping[str, str] | None = None) -> Path:
    """The terraform executable (${STREAMPROC_TERRAFORM}, else PATH), or TerraformUnavailable."""
    src = os.environ if env is None else env
    found = src.get(BINARY_VAR) or shutil.which("terraform")
    if not found or not os.access(found, os.X_OK):
        msg = f"terraform not found (looked at ${BINARY_VAR} and PATH): install Terraform >= 1.5 or set {BINARY_VAR}"
        raise TerraformUnavailable(msg)
    return Path(found)


def locate(env: Mapping[str, str] | None = None) -> Toolchain:
    """The local toolchain, or TerraformUnavailable naming what is missing. Never downloads anything."""
    src = os.environ if env is None else env
    binary = find_binary(src)
    configured = src.get(PLUGIN_DIR_VAR)
    candidates = [Path(configured)] if configured else default_plugin_dirs(src)
    for candidate in candidates:
        if has_aws_provider(candidate):
            return Toolchain(binary=binary, plugin_dir=candidate)
    where = ", ".join(str(c) for c in candidates)
    msg = (
        f"no local hashicorp/aws provider for {target_platform()} in {where}: put one there in the provider "
        f"mirror layout ({PROVIDER}/<version>/{target_platform()}/) or set {PLUGIN_DIR_VAR}; "
        "registry downloads are never attempted"
    )
    raise TerraformUnavailable(msg)


def fmt_check(binary: Path) -> subprocess.CompletedProcess[str]:
    """`terraform fmt -check` over the configuration in the repository (it needs no init and no provider)."""
    return subprocess.run(
        [str(binary), "fmt", "-check", "-recursive", "-diff", str(TERRAFORM_DIR)],
        env=_base_env(os.environ),
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUTS["fmt"],
    )


def _base_env(env: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without AWS credentials or Terraform settings, plus no prompts, no call home."""
    kept = {k: v for k, v in env.items() if not k.startswith(("AWS_", "TF_"))}
    return {**kept, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}


class Workspace:
    """A private copy of terraform/ with its own state, variables and CLI config (the local mirror only)."""

    def __init__(self, toolchain: Toolchain, workdir: Path, endpoint: AwsEndpoint) -> None:
        self.toolchain = toolchain
        self.workdir = workdir
        self.endpoint = endpoint

    def prepare(self, variables: Mapping[str, object]) -> None:
        """Copy the configuration (replacing an older copy, keeping state) and write the variables file."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for old in self.workdir.glob("*.tf"):
            old.unlink()
        for source in TERRAFORM_DIR.glob("*.tf"):
            shutil.copy2(source, self.workdir / source.name)
        self.cli_config.write_text(_CLI_CONFIG % (json.dumps(str(self.toolchain.plugin_dir)), PROVIDER.as_posix()))
        values = {"aws_region": self.endpoint.region, "aws_endpoint_url": self.endpoint.url, **variables}
        (self.workdir / VARIABLES_FILE).write_text(json.dumps(values, indent=2) + "\n")

    @property
    def cli_config(self) -> Path:
        return self.workdir / "cli.tfrc"

    def env(self) -> dict[str, str]:
        return {
            **_base_env(os.environ),
            "TF_CLI_CONFIG_FILE": str(self.cli_config),
            "AWS_ACCESS_KEY_ID": self.endpoint.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.endpoint.secret_access_key,
            "AWS_DEFAULT_REGION": self.endpoint.region,
        }

    def run(self, command: str, *args: str) -> str:
        """`terraform <command> <args>` in the workspace; its output, or TerraformFailed with the end of it."""
        argv = [str(self.toolchain.binary), command, *args, "-no-color"]
        try:
            done = subprocess.run(
                argv,
                cwd=self.workdir,
                env=self.env(),
                capture_output=True,
                text=True,
                check=False,
                timeout=TIMEOUTS[command],
            )
        except subprocess.TimeoutExpired as exc:
            msg = f"terraform {command} did not finish within {exc.timeout:.0f}s in {self.workdir}"
            raise TerraformFailed(msg) from exc
        if done.returncode != 0:
            msg = f"terraform {command} failed (exit {done.returncode}) in {self.workdir}:\n{_tail(done)}"
            raise TerraformFailed(msg)
        return done.stdout

    def init(self, *, backend: bool = True) -> None:
        self.run("init", "-input=false", *(() if backend else ("-backend=false",)))

    def validate(self) -> None:
        self.run("validate")

    def apply(self) -> None:
        self.run("apply", "-input=false", "-auto-approve")

    def destroy(self) -> None:
        self.run("destroy", "-input=false", "-auto-approve")

    def outputs(self) -> dict[str, Any]:
        raw: dict[str, dict[str, Any]] = json.loads(self.run("output", "-json"))
        return {name: entry["value"] for name, entry in raw.items()}


def _tail(done: subprocess.CompletedProcess[str], limit: int = 4000) -> str:
    return (done.stdout + done.stderr)[-limit:]


def emulator_variables(names: AwsNames) -> dict[str, object]:
    """The configuration's variables for the devstack names, for an emulator: its bucket may go with its
    objects, and plain HTTP must not be refused (moto evaluates the TLS-only bucket policy)."""
    return {
        "bucket_name": names.bucket,
        "queue_name": names.queue,
        "dlq_name": names.dlq,
        "max_receive_count": names.max_receive_count,
        "visibility_timeout_seconds": names.visibility_timeout,
        "object_suffixes": list(names.suffixes),
        "force_destroy": True,
        "require_tls": False,
    }


def provisioned(outputs: Mapping[str, Any]) -> Provisioned:
    """What the apply created, from `terraform output` (the same fields devstack/provision.py returns)."""
    return Provisioned(
        bucket=str(outputs["bucket_name"]),
        queue_url=str(outputs["queue_url"]),
        queue_arn=str(outputs["queue_arn"]),
        dlq_url=str(outputs["dlq_url"]),
        dlq_arn=str(outputs["dlq_arn"]),
    )


def provision(workspace: Workspace, names: AwsNames, *, reuse_key: str | None = None) -> Provisioned:
    """init + apply, unless the last apply in this workspace was for the same `reuse_key` (e.g. the same
    emulator process): then its outputs. A second apply against moto is not a no-op (moto re-formats the
    redrive policy JSON, so the provider updates the queue and waits ~25 s again)."""
    stamp = workspace.workdir / "applied-for"
    if reuse_key is not None and stamp.is_file() and stamp.read_text() == reuse_key:
        try:
            return provisioned(workspace.outputs())
        except (TerraformFailed, KeyError):
            pass  # state gone or incomplete: apply again
    stamp.unlink(missing_ok=True)
    workspace.prepare(emulator_variables(names))
    workspace.init()
    workspace.apply()
    result = provisioned(workspace.outputs())
    if reuse_key is not None:
        stamp.write_text(reuse_key)
    return result
