"""`python -m devstack`: argument handling and the messages an operator sees when something is wrong."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.__main__ import build_parser, main
from devstack.process import StackError, read_owned, require_binary, require_port_free, spawn, stop


def test_every_documented_command_parses() -> None:
    parser = build_parser()
    assert parser.parse_args(["up"]).command == "up"
    assert parser.parse_args(["down", "--wipe"]).wipe is True
    assert parser.parse_args(["status"]).command == "status"
    logs = parser.parse_args(["logs", "kafka", "-n", "5"])
    assert (logs.service, logs.lines) == ("kafka", 5)


def test_an_unknown_command_or_service_exits_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["start"])
    assert exc.value.code == 2
    assert "invalid choice: 'start'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["logs", "zookeeper"])


def test_a_bad_setting_is_reported_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAMPROC_KAFKA_PORT", "kafka")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("devstack: STREAMPROC_KAFKA_PORT='kafka' must be a whole number")
    assert "Traceback" not in err


def test_status_of_an_empty_state_dir_shows_every_service_stopped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAMPROC_STACK_DIR", str(tmp_path))
    assert main(["status"]) == 1
    out = capsys.readouterr().out
    for service in ("kafka", "postgres", "moto"):
        assert f"{service:<10} stopped" in out


def test_logs_of_a_service_that_never_ran_says_where_it_looked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAMPROC_STACK_DIR", str(tmp_path))
    assert main(["logs", "moto"]) == 1
    assert f"no log yet at {tmp_path / 'logs' / 'moto.log'}" in capsys.readouterr().err


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_port_fails_fast_naming_the_variable_to_change(listening_port: int) -> None:
    with pytest.raises(StackError, match=f"port {listening_port} .* already taken.* set STREAMPROC_MOTO_PORT"):
        require_port_free(listening_port, "moto", "STREAMPROC_MOTO_PORT")


def test_a_missing_binary_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(StackError, match="mvn not found on PATH: apt-get install maven"):
        require_binary("mvn", "apt-get install maven")


def test_stop_ends_only_the_process_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "sleep.pid"
    owned = spawn(["sleep", "60"], pid_file=pid_file, log_file=tmp_path / "sleep.log")
    assert read_owned(pid_file) == owned
    assert stop(pid_file, timeout=5)
    assert not owned.alive()
    assert not pid_file.exists()
    assert stop(pid_file) is False


def test_a_pid_file_naming_someone_elses_process_is_not_ours(tmp_path: Path) -> None:
    pid_file = tmp_path / "other.pid"
    pid_file.write_text('{"pid": 1, "start_ticks": 12345678901}')
    assert read_owned(pid_file) is None
    assert stop(pid_file) is False
