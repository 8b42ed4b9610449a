"""docker-compose.yml without a Docker engine: valid against the vendored compose-spec schema, images pinned to
what the local stack and the tests run, healthchecks and dependency conditions, loopback-only published ports."""

from __future__ import annotations

import copy
import importlib.metadata
import ipaddress
import json
import re
import subprocess
from functools import cache
from typing import Any

import jsonschema
import pytest
import yaml

from devstack import terraform
from devstack.postgres import find_bindir
from devstack.process import StackError
from devstack.settings import REPO_ROOT, StackSettings

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
SCHEMA_FILE = REPO_ROOT / "tests" / "data" / "compose-spec" / "compose-spec.json"
# Services that run once and exit; the services after them wait for `service_completed_successfully`.
ONE_SHOT = {"terraform"}
# Services built from ./Dockerfile (the pipeline's own processes).
PIPELINE = {"bridge", "worker"}


@cache
def _compose_text() -> str:
    return COMPOSE_FILE.read_text()


def load_compose() -> dict[str, Any]:
    """The compose file as data, YAML anchors and merge keys resolved (as Compose resolves them)."""
    data = yaml.safe_load(_compose_text())
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load_compose()["services"]
    return found


def environment(service: str) -> dict[str, str]:
    """A service's environment as the container sees it (values are strings there)."""
    raw = services()[service].get("environment", {})
    assert isinstance(raw, dict), f"{service}: use the mapping form of environment"
    return {key: _env_value(value) for key, value in raw.items()}


def _env_value(value: object) -> str:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def image_tag(service: str) -> str:
    return str(services()[service]["image"]).rsplit(":", 1)[1]


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_the_compose_file_is_valid_against_the_compose_spec_schema() -> None:
    assert schema_errors(load_compose()) == []


def test_the_vendored_schema_rejects_what_compose_would_reject() -> None:
    broken = copy.deepcopy(load_compose())
    broken["services"]["worker"]["healthcheck"]["intervall"] = "5s"
    broken["services"]["bridge"]["depends_on"]["kafka"]["condition"] = "service_ready"
    errors = schema_errors(broken)
    assert any("intervall" in e for e in errors), errors
    assert any("service_ready" in e for e in errors), errors


def test_kafka_and_moto_images_are_the_versions_the_tests_run() -> None:
    assert services()["kafka"]["image"] == f"apache/kafka:{StackSettings().kafka_version}"
    assert services()["moto"]["image"] == f"motoserver/moto:{importlib.metadata.version('moto')}"


def test_postgres_image_is_the_major_version_the_local_stack_runs() -> None:
    try:
        postgres = find_bindir() / "postgres"
    except StackError as exc:
        pytest.skip(f"no local PostgreSQL to compare with: {exc}")
    done = subprocess.run([str(postgres), "--version"], capture_output=True, text=True, check=True, timeout=30)
    local = re.search(r"\) (\d+)\.", done.stdout)
    assert local is not None, done.stdout
    assert image_tag("postgres").split(".")[0] == local[1]


def test_terraform_image_is_the_terraform_the_tests_apply_with() -> None:
    try:
        binary = terraform.find_binary()
    except terraform.TerraformUnavailable as exc:
        pytest.skip(f"no local terraform to compare with: {exc}")
    done = subprocess.run([str(binary), "version", "-json"], capture_output=True, text=True, check=True, timeout=60)
    assert services()["terraform"]["image"] == f"hashicorp/terraform:{json.loads(done.stdout)['terraform_version']}"


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in services().items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", f"{name}: a one-shot job must not be restarted"
            continue
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name}: no healthcheck"
        assert {"interval", "timeout", "retries", "start_period"} <= check.keys(), f"{name}: {check}"


def test_every_dependency_waits_for_a_condition() -> None:
    for name, service in services().items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: use the long form of depends_on, with conditions"
        for dependency, spec in depends.items():
            wanted = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert spec.get("condition") == wanted, f"{name} -> {dependency}: condition {wanted}"
    assert set(services()["worker"]["depends_on"]) == {"kafka", "postgres", "moto", "terraform"}
    assert set(services()["bridge"]["depends_on"]) == {"kafka", "moto", "terraform"}


def test_every_published_port_is_bound_to_loopback_on_the_host() -> None:
    for name, service in services().items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name}: {port!r}"


def test_the_pipeline_listens_on_all_interfaces_inside_its_containers_on_the_published_ports() -> None:
    worker, bridge = environment("worker"), environment("bridge")
    for host in (worker["STREAMPROC_WEB_HOST"], bridge["BRIDGE_HTTP_HOST"]):
        assert ipaddress.ip_address(host).is_unspecified, host
    for name, port_var in (("worker", "STREAMPROC_WEB_PORT"), ("bridge", "BRIDGE_HTTP_PORT")):
        (published,) = services()[name]["ports"]
        assert published.rsplit(":", 1)[1] == environment(name)[port_var], f"{name}: {published}"
    for listener in environment("kafka")["KAFKA_LISTENERS"].split(","):
        host = listener.split("://", 1)[1].rsplit(":", 1)[0]
        assert ipaddress.ip_address(host).is_unspecified, listener
    assert "listen_addresses=*" in services()["postgres"]["command"]


def test_postgres_keeps_row_values_out_of_its_log() -> None:
    command = services()["postgres"]["command"]
    assert "log_error_verbosity=terse" in command
    assert "log_min_error_statement=panic" in command
