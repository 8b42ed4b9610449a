"""JSON-lines logs: a real worker and a real bridge told STREAMPROC_LOG_FORMAT=json / BRIDGE_LOG_FORMAT=json write
nothing but JSON objects, one a line, with time, level, logger and message. By default both listen on loopback only."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import aioboto3

from devstack.deployment import deployment
from devstack.stack import Endpoints
from streamproc.datasets import samples

FIELDS = {"time", "level", "logger", "message"}
# /proc/net/tcp{,6} local addresses: 127.0.0.1, ::1 and ::ffff:127.0.0.1, as the kernel writes them.
LOOPBACK = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}


def listening(pid: int) -> set[str]:
    """The local addresses (hex, as in /proc/net/tcp) of the TCP sockets process `pid` listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target.removeprefix("socket:[").rstrip("]"))
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # state LISTEN, our socket
                found.add(fields[1].rsplit(":", 1)[0])
    return found


def json_lines(log: Path) -> list[dict[str, Any]]:
    """Every line of the log parsed as JSON (a line that is not fails the test, naming it)."""
    parsed = []
    for number, line in enumerate(log.read_text(encoding="utf-8").split("\n")[:-1], 1):
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError as exc:
            msg = f"{log.name} line {number} is not JSON: {line[:200]!r}"
            raise AssertionError(msg) from exc
    return parsed


async def test_the_worker_and_the_bridge_log_json_lines_when_told_to_and_listen_on_loopback_only(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    files = {
        "pharmacy_claims/good.csv": samples.csv_bytes("pharmacy_claims", 50, 0.1, seed=8),
        "pharmacy_claims/control\r\u001b[31mkey.csv": samples.csv_bytes("pharmacy_claims", 5, 0.0, seed=9),
        "misc/unknown.csv": b"colour,size\nred,9\n",
    }
    async with deployment(stack, unique, tmp_path, STREAMPROC_LOG_FORMAT="json", BRIDGE_LOG_FORMAT="json") as d:
        d.start("bridge", "-m", "bridge")
        d.start_worker()
        for key, body in files.items():
            await d.upload(key, body)
        session = aioboto3.Session()
        async with session.client("sqs", **stack.aws.client_kwargs()) as sqs:
            await sqs.send_message(QueueUrl=d.aws.queue_url, MessageBody="{not json")  # a WARNING in the bridge
        rows = await d.wait_finished(sorted(files))
        sockets = {name: listening(pid) for name in ("worker", "bridge") if (pid := d.pid(name)) is not None}
    assert set(sockets) == {"worker", "bridge"}
    assert all(found and found <= LOOPBACK for found in sockets.values()), sockets  # web pages, /healthz, /metrics
    assert sorted(r["status"] for r in rows) == ["COMPLETED", "FAILED", "PARTIAL"]
    worker, bridge = json_lines(tmp_path / "worker.log"), json_lines(tmp_path / "bridge.log")
    for line in worker + bridge:
        assert set(line) >= FIELDS, line
        assert datetime.fromisoformat(line["time"]).utcoffset() is not None
        assert line["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    messages = [line["message"] for line in worker]
    assert any("split done" in m for m in messages)  # the INFO lines an operator needs are there
    assert any("FAILED (UnknownDataset)" in m for m in messages)
    assert any("\r\x1b[31m" in m for m in messages)  # a hostile key is escaped in the file, intact once parsed
    assert any(line["level"] == "WARNING" and "dead-lettered" in line["message"] for line in bridge)
    assert any("bridge all starting" in line["message"] for line in bridge)
