"""Test-only dataset `manifested_claims`: pharmacy claims whose sender sends a manifest beside each file
(`<key>.manifest.json`, required: a file waits for it), with the row count, the sum of total_paid and the SHA-256,
for the manifests' real-stack tests."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from decimal import Decimal

from streamproc.datasets import pharmacy_claims
from streamproc.datasets.controls import ControlPolicy, Controls, ManifestRule

DATASET = dataclasses.replace(
    pharmacy_claims.DATASET,
    name="manifested_claims",
    topic="claims.manifested",
    table="manifested_claims",
    key_prefixes=("manifested_claims/",),
    filename_patterns=(),
    controls=ControlPolicy(default=Controls(manifest=ManifestRule(required=True, sums=("total_paid",)))),
)


def manifest_of(body: bytes, *, count: int | None = None, sha: str | None = None) -> bytes:
    """The manifest a sender writes beside a pharmacy-claims CSV of valid rows: its row count, the sum of total_paid
    and its SHA-256 (`count` and `sha` make it disagree)."""
    header, *records = csv.reader(io.StringIO(body.decode()))
    total = sum((Decimal(r[header.index("total_paid")]) for r in records), Decimal(0))
    doc = {"row_count": len(records) if count is None else count, "sums": {"total_paid": str(total)}}
    doc["sha256"] = sha or hashlib.sha256(body).hexdigest()
    return json.dumps(doc).encode()
