"""The layers hold: the pure modules load no driver, shipped code never imports the dev tooling, the wheel lacks it."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("streamproc", "bridge")
PURE_MODULES = (
    "streamproc.events",
    "streamproc.datasets",
    "streamproc.datasets.registry",
    "streamproc.datasets.pharmacy_claims",
    "streamproc.datasets.audit_records",
    "streamproc.parsing",
    "streamproc.file_rejections",
    "streamproc.ledger",
    "streamproc.ports",
    "streamproc.fanout",
    "streamproc.sinks",
    "streamproc.sink_batch",
    "streamproc.split",
    "streamproc.faults",
    "streamproc.shared.partitioning",
    "streamproc.deadletter_writer",
    "streamproc.shared.errors",
    "streamproc.shared.settings",
    "streamproc.shared.retry",
    "streamproc.shared.delivery",
    "streamproc.shared.deadletters",
    "streamproc.shared.logs",
    "streamproc.shared.histogram",
    "streamproc.web.health",
    "streamproc.web.lag",
    "streamproc.web.throughput",
    "streamproc.web.html",
    "streamproc.web.api",
    "streamproc.web.pages",
    "streamproc.topic_contract",
    "streamproc.topic_docs",
    "streamproc.cli.errors",
    "streamproc.cli.params",
    "streamproc.cli.views",
    "streamproc.cli.tailing",
    "streamproc.cli.uploading",
    "bridge.messages",
    "bridge.settings",
)
DRIVERS = ("faust", "mode", "aiokafka", "kafka", "aioboto3", "aiobotocore", "botocore", "boto3", "psycopg", "devstack")

PROBE = f"""
import importlib, json, sys
for name in {PURE_MODULES!r}:
    importlib.import_module(name)
from streamproc.datasets.registry import load_registry
load_registry()
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


def test_importing_the_pure_layer_and_the_stage_logic_loads_no_driver_or_framework() -> None:
    # A fresh interpreter: this test process may already hold drivers imported by other tests.
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(done.stdout))
    assert "streamproc" in loaded
    assert loaded.isdisjoint(DRIVERS), sorted(loaded & set(DRIVERS))


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", SHIPPED)
def test_shipped_code_never_imports_the_dev_tooling(package: str) -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / package).rglob("*.py") if "devstack" in _imported_roots(p)]
    assert offenders == []


def test_the_wheel_ships_the_worker_and_the_bridge_but_not_devstack() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    assert sorted(include) == ["bridge*", "streamproc*"]
    assert "devstack" not in config["tool"]["setuptools"].get("package-data", {})
