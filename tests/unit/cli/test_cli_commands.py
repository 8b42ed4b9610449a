"""The commands as an operator runs them (`python -m streamproc ...`): help, usage errors and exit codes.

No service is needed: every address points at a port nothing listens on.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = ("upload", "status", "tail", "schema", "replay", "reprocess", "gen")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens there


def streamproc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    port = closed_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
        "DATABASE_URL": f"postgresql://nobody@127.0.0.1:{port}/none?connect_timeout=2",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    return subprocess.run(
        [sys.executable, "-m", "streamproc", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_every_command_is_listed_and_has_help() -> None:
    listed = streamproc("--help")
    assert listed.returncode == 0
    for command in COMMANDS:
        assert f"  {command} " in listed.stdout
    helped = streamproc("replay", "--help")
    assert helped.returncode == 0
    assert "--to-datetime" in helped.stdout
    assert "dry run" in helped.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("replay", "--to-earliest", "--to-latest"),
        ("replay", "--to-datetime", "2026-01-01T00:00:00"),
        ("reprocess", "s3://bucket-only"),
        ("tail", "no-such-topic"),
        ("upload", "/no/such/path.csv"),
        ("schema", "no-such-topic"),
        ("schema", "--markdown", "objects"),
    ],
    ids=" ".join,
)
def test_bad_arguments_exit_2_with_a_message_and_no_traceback(args: tuple[str, ...]) -> None:
    result = streamproc(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip()


def test_a_named_file_that_is_not_csv_is_refused_before_anything_is_uploaded(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    result = streamproc("upload", str(tmp_path / "notes.txt"))
    assert result.returncode == 1
    assert "not .csv or .csv.gz" in result.stderr
    assert "Nothing was uploaded; --any uploads it anyway" in result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("replay", "--to-earliest", "--timeout", "1"), "Kafka unreachable"),
        (("tail", "objects"), "Kafka unavailable"),
        (("status",), "PostgreSQL at postgresql://nobody@127.0.0.1"),
    ],
    ids=["replay", "tail", "status"],
)
def test_a_service_that_does_not_answer_exits_3(args: tuple[str, ...], says: str) -> None:
    result = streamproc(*args)
    assert result.returncode == 3, result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_schema_markdown_writes_the_document_where_asked(tmp_path: Path) -> None:
    result = streamproc("schema", "--markdown", "--out", str(tmp_path / "t.md"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "t.md").read_text().startswith("# Topics\n")


def test_schema_of_one_dataset_is_its_json_schema() -> None:
    result = streamproc("schema", "pharmacy_claims")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert "claim_id" in json.dumps(schema)
    assert "audit_id" not in json.dumps(schema)


def test_gen_writes_a_gzipped_file_with_the_rows_asked(tmp_path: Path) -> None:
    out = tmp_path / "claims.csv.gz"
    result = streamproc("gen", "--rows", "25", "--bad-share", "0", "--out", str(out))
    assert result.returncode == 0, result.stderr
    lines = gzip.decompress(out.read_bytes()).decode().splitlines()
    assert len(lines) == 26  # the header and the rows
    assert lines[0].startswith("claim_id,")
    assert "wrote 25 pharmacy_claims rows" in result.stdout + result.stderr
