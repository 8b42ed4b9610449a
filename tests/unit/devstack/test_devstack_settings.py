"""The local stack's settings: defaults, env overrides and the errors a mistyped value gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.settings import StackConfigError, StackSettings, parse_port


def test_defaults_are_loopback_ports_and_terraform_names() -> None:
    settings = StackSettings.from_env({})
    assert (settings.kafka_port, settings.postgres_port, settings.moto_port) == (39092, 35432, 35000)
    assert settings.aws.bucket == "healthcare-ingestion-drop-zone"
    assert (settings.aws.queue, settings.aws.dlq, settings.aws.max_receive_count) == (
        "s3-event-queue",
        "s3-event-dlq",
        5,
    )
    assert settings.backend == "local"
    assert settings.state_dir.name == ".stack"


def test_env_overrides_every_port_dir_and_receive_count(tmp_path: Path) -> None:
    settings = StackSettings.from_env(
        {
            "STREAMPROC_KAFKA_PORT": "19092",
            "STREAMPROC_KAFKA_CONTROLLER_PORT": "19093",
            "STREAMPROC_POSTGRES_PORT": " 15432 ",
            "STREAMPROC_MOTO_PORT": "15000",
            "STREAMPROC_STACK_DIR": str(tmp_path / "state"),
            "STREAMPROC_CACHE_DIR": str(tmp_path / "cache"),
            "STREAMPROC_MAX_RECEIVE_COUNT": "2",
            "STREAMPROC_KAFKA_HEAP": "768m",
            "STREAMPROC_STACK_BACKEND": "TestContainers",
        }
    )
    assert (settings.kafka_port, settings.kafka_controller_port) == (19092, 19093)
    assert (settings.postgres_port, settings.moto_port) == (15432, 15000)
    assert settings.state_dir == tmp_path / "state"
    assert settings.cache_dir == tmp_path / "cache"
    assert settings.aws.max_receive_count == 2
    assert settings.kafka_heap == "768m"
    assert settings.backend == "testcontainers"


def test_blank_values_fall_back_to_defaults() -> None:
    settings = StackSettings.from_env({"STREAMPROC_KAFKA_PORT": "", "STREAMPROC_STACK_DIR": "  "})
    assert settings.kafka_port == 39092
    assert settings.state_dir == StackSettings().state_dir


@pytest.mark.parametrize("raw", ["abc", "0", "65536", "-1", "80.5", "1e3"])
def test_a_port_that_is_not_a_port_names_the_variable_and_range(raw: str) -> None:
    with pytest.raises(StackConfigError, match=r"STREAMPROC_POSTGRES_PORT=.* must be a whole number from 1 to 65535"):
        StackSettings.from_env({"STREAMPROC_POSTGRES_PORT": raw})


def test_port_parsing_accepts_the_edges() -> None:
    assert parse_port("1", "X", 9) == 1
    assert parse_port("65535", "X", 9) == 65535
    assert parse_port(None, "X", 9) == 9


def test_two_services_on_one_port_is_refused() -> None:
    with pytest.raises(StackConfigError, match="STREAMPROC_KAFKA_PORT and STREAMPROC_MOTO_PORT are both port 39092"):
        StackSettings.from_env({"STREAMPROC_MOTO_PORT": "39092"})


def test_an_unknown_backend_lists_the_known_ones() -> None:
    with pytest.raises(StackConfigError, match="not one of local, testcontainers"):
        StackSettings.from_env({"STREAMPROC_STACK_BACKEND": "docker"})


@pytest.mark.parametrize("heap", ["512", "lots", "0m", "1.5g"])
def test_a_bad_heap_size_is_refused(heap: str) -> None:
    with pytest.raises(StackConfigError, match="STREAMPROC_KAFKA_HEAP"):
        StackSettings.from_env({"STREAMPROC_KAFKA_HEAP": heap})


def test_receive_count_must_be_positive() -> None:
    with pytest.raises(StackConfigError, match="STREAMPROC_MAX_RECEIVE_COUNT='0' must be a whole number from 1"):
        StackSettings.from_env({"STREAMPROC_MAX_RECEIVE_COUNT": "0"})
