"""Every command docker-compose.yml runs exists: the pipeline's python modules and their subcommands, the
Terraform job's subcommands, flags and variables, and each healthcheck command (run for real where this machine
has the tool; the Kafka image's script only statically)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from typing import Any

import pytest

from devstack import terraform
from devstack.postgres import find_bindir
from devstack.process import StackError, free_port
from devstack.settings import AwsNames
from tests.repo.test_compose_schema import PIPELINE, environment, services
from tests.repo.test_dockerfile import exec_form, runtime_stage, serving

_LOOPBACK_PORT = re.compile(r"127\.0\.0\.1:(\d+)")


def healthcheck(service: str) -> list[str]:
    test: list[str] = services()[service]["healthcheck"]["test"]
    assert test[0] in {"CMD", "CMD-SHELL"}, f"{service}: {test}"
    return test


def job_lines() -> list[list[str]]:
    """The Terraform job's script as argv lists, one per line."""
    (script,) = services()["terraform"]["command"]
    # Compose interpolates `${...}` itself and turns `$$` into the `$` the shell sees; the job leaves every
    # variable to the shell, so it must escape each one.
    assert re.search(r"(?<!\$)\$(?!\$)", script.replace("$$", "")) is None, "unescaped $ in the job's script"
    script = script.replace("$$", "$")
    return [shlex.split(line) for line in script.splitlines() if line.strip()]


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120, **kwargs)


@pytest.mark.parametrize("service", sorted(PIPELINE))
def test_each_pipeline_service_runs_a_python_module_command_that_exists(service: str) -> None:
    assert services()[service]["build"] == ".", f"{service} is not built from ./Dockerfile"
    entrypoint = exec_form(next(ins for ins in reversed(runtime_stage()) if ins.keyword == "ENTRYPOINT"))
    assert entrypoint == ["python", "-m"]
    command = services()[service]["command"]
    done = run([sys.executable, "-m", *command, "--help"])
    assert done.returncode == 0, f"python -m {' '.join(command)}: {done.stdout}{done.stderr}"


def test_the_worker_runs_the_faust_worker_command() -> None:
    assert services()["worker"]["command"] == ["streamproc", "worker"]
    assert services()["bridge"]["command"] == ["bridge"]


def test_the_terraform_job_uses_subcommands_and_flags_this_terraform_has() -> None:
    try:
        binary = terraform.find_binary()
    except terraform.TerraformUnavailable as exc:
        pytest.skip(f"terraform subcommands checked only by name: {exc}")
    calls = [line for line in job_lines() if line[0] == "terraform"]
    assert [line[1] for line in calls] == ["init", "apply"]
    for line in calls:
        done = run([str(binary), line[1], "-help"])
        assert done.returncode == 0, done.stderr
        for flag in (token.split("=", 1)[0] for token in line[2:] if token.startswith("-")):
            assert re.search(rf"^\s+{re.escape(flag)}\b", done.stdout, re.MULTILINE), f"terraform {line[1]} {flag}"


def job_variables() -> dict[str, str]:
    (apply,) = [line for line in job_lines() if line[:2] == ["terraform", "apply"]]
    pairs = [apply[i + 1] for i, token in enumerate(apply) if token == "-var"]
    return dict(pair.split("=", 1) for pair in pairs)


def test_the_terraform_job_sets_declared_variables_as_the_tests_apply_them() -> None:
    declared = set(re.findall(r'^variable\s+"(\w+)"', terraform_configuration(), re.MULTILINE))
    given, env = job_variables(), environment("terraform")
    assert set(given) <= declared, set(given) - declared
    tested = terraform.emulator_variables(AwsNames())
    for name in ("force_destroy", "require_tls"):
        assert given[name] == str(tested[name]).lower(), name
    assert (given["aws_endpoint_url"], env["AWS_ENDPOINT_URL"]) == ("$AWS_ENDPOINT_URL", "http://moto:5000")
    assert (given["bucket_name"], env["STREAMPROC_BUCKET"]) == ("$STREAMPROC_BUCKET", tested["bucket_name"])


def terraform_configuration() -> str:
    return "\n".join(path.read_text() for path in sorted(terraform.TERRAFORM_DIR.glob("*.tf")))


@pytest.mark.parametrize(("service", "path"), [("moto", "/moto-api/"), ("bridge", "/healthz"), ("worker", "/healthz/")])
def test_python_healthchecks_pass_against_a_server_that_answers_their_route(service: str, path: str) -> None:
    kind, *argv = healthcheck(service)
    assert kind == "CMD" and argv[0] in {"python", "python3"} and argv[1] == "-c", argv
    with serving({path: 200}) as probe:
        code = _LOOPBACK_PORT.sub(f"127.0.0.1:{probe.port}", argv[2])
        done = run([sys.executable, "-c", code])
    assert (done.returncode, probe.asked) == (0, [path]), done.stderr


def test_the_pipeline_healthchecks_probe_the_ports_their_services_listen_on() -> None:
    for service, port_var in (("bridge", "BRIDGE_HTTP_PORT"), ("worker", "STREAMPROC_WEB_PORT")):
        found = _LOOPBACK_PORT.search(healthcheck(service)[-1])
        assert found is not None and found[1] == environment(service)[port_var], service


def test_the_postgres_healthcheck_is_a_pg_isready_call_with_valid_options() -> None:
    kind, tool, *args = healthcheck("postgres")
    assert (kind, tool) == ("CMD", "pg_isready")
    try:
        pg_isready = find_bindir() / "pg_isready"
    except StackError as exc:
        pytest.skip(f"pg_isready checked only by name: {exc}")
    # Against a port where nothing listens: exit 2 ("no response") means the options were accepted (3 = invalid).
    done = run([str(pg_isready), *args, "-p", str(free_port()), "-t", "2"])
    assert done.returncode == 2, done.stdout + done.stderr


def test_the_kafka_healthcheck_calls_the_images_broker_api_versions_tool() -> None:
    # Static only: the Kafka image's bin/ scripts are not on this machine (devstack runs Kafka from Maven jars).
    kind, script = healthcheck("kafka")
    assert kind == "CMD-SHELL"
    argv = shlex.split(script)
    assert argv[:3] == ["/opt/kafka/bin/kafka-broker-api-versions.sh", "--bootstrap-server", "localhost:9092"]
    assert "INTERNAL://0.0.0.0:9092" in environment("kafka")["KAFKA_LISTENERS"]
