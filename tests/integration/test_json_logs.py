"""JSON-lines logs: a real worker and a real bridge told STREAMPROC_LOG_FORMAT=json / BRIDGE_LOG_FORMAT=json write
nothing but JSON objects, one a line, with time, level, logger and message."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import aioboto3

from devstack.deployment import deployment
from devstack.stack import Endpoints
from streamproc import samples

FIELDS = {"time", "level", "logger", "message"}


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


async def test_the_worker_and_the_bridge_log_one_json_object_a_line_when_told_to(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    files = {
        "pharmacy_claims/good.csv": samples.csv_bytes("pharmacy_claims", 50, 0.1, seed=8),
        "pharmacy_claims/control\r\u001b[31mkey.csv": samples.csv_bytes("pharmacy_claims", 5, 0.0, seed=9),
        "misc/unknown.csv": b"colour,size\nred,9\n",
    }
    env = {"STREAMPROC_LOG_FORMAT": "json", "BRIDGE_LOG_FORMAT": "json"}
    async with deployment(stack, unique, tmp_path, **env) as d:
        d.start("bridge", "-m", "bridge")
        d.start_worker()
        for key, body in files.items():
            await d.upload(key, body)
        session = aioboto3.Session()
        async with session.client("sqs", **stack.aws.client_kwargs()) as sqs:
            await sqs.send_message(QueueUrl=d.aws.queue_url, MessageBody="{not json")  # a WARNING in the bridge
        rows = await d.wait_finished(sorted(files))
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
