"""The pure layer (schemas, datasets, parsing) loads no Kafka, Faust, S3 or PostgreSQL driver."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PURE_MODULES = (
    "streamproc.events",
    "streamproc.datasets",
    "streamproc.datasets.registry",
    "streamproc.datasets.pharmacy_claims",
    "streamproc.datasets.audit_records",
    "streamproc.parsing",
)
DRIVERS = ("faust", "mode", "aiokafka", "kafka", "aioboto3", "aiobotocore", "botocore", "boto3", "psycopg")

PROBE = f"""
import importlib, json, sys
for name in {PURE_MODULES!r}:
    importlib.import_module(name)
from streamproc.datasets.registry import load_registry
load_registry()
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


def test_importing_the_pure_layer_loads_no_driver_or_framework() -> None:
    # A fresh interpreter: this test process may already hold drivers imported by other tests.
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = set(json.loads(done.stdout))
    assert "streamproc" in loaded
    assert loaded.isdisjoint(DRIVERS), sorted(loaded & set(DRIVERS))
