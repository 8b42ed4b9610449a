"""The bridge's /metrics collector reads the stats dataclasses; a taken HTTP port stops the bridge at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from bridge import bootstrap
from bridge.http import BridgeCollector
from bridge.settings import BridgeSettings

REPO = Path(__file__).resolve().parents[3]


def test_the_collector_exposes_every_relay_and_mirror_counter_and_the_kafka_pause() -> None:
    settings = BridgeSettings()
    relay, mirror = bootstrap.relay(settings), bootstrap.mirror(settings)
    relay.stats.produced, relay.stats.deleted, mirror.stats.sent = 7, 6, 3
    relay.visibility.extended, relay.visibility.stale = 5, 1
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BridgeCollector(relay, mirror))
    samples = {
        s.name: s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }
    assert samples["bridge_relay_produced_total"] == 7
    assert samples["bridge_relay_deleted_total"] == 6
    assert samples["bridge_mirror_sent_total"] == 3
    assert (samples["bridge_relay_visibility_extended_total"], samples["bridge_relay_visibility_stale_total"]) == (5, 1)
    assert {f"bridge_relay_visibility_{name}_total" for name in relay.visibility.as_dict()} <= samples.keys()
    assert samples["bridge_relay_kafka_paused"] == 1  # not connected yet: receives are held
    assert {f"bridge_relay_{name}_total" for name in relay.stats.as_dict()} <= samples.keys()
    assert {f"bridge_mirror_{name}_total" for name in mirror.stats.as_dict()} <= samples.keys()


def test_a_taken_http_port_stops_the_bridge_with_exit_1_naming_the_variable() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "BRIDGE_HTTP_PORT": str(port), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
        done = subprocess.run(
            [sys.executable, "-m", "bridge"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60, check=False
        )
    assert done.returncode == 1
    assert "BRIDGE_HTTP_PORT" in done.stderr
