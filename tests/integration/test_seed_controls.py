"""The seed datasets' controls and a sender hold on the real stack, through S3's notifications, the bridge, the worker
and the operator commands: a file over the warning limit loads and is flagged; a re-gzipped copy of it under another
name is HELD as a duplicate naming the first; a held sender's file is HELD with the hold's reason, and files after
`unhold` load again."""

from __future__ import annotations

import gzip
from pathlib import Path

from devstack.deployment import deployment
from devstack.stack import Endpoints
from streamproc.datasets import samples
from tests.integration.cli_support import cli

FLAGGED = "pharmacy_claims/many-rejects.csv"
COPY = "pharmacy_claims/resent/many-rejects.csv.gz"
HELD_SENDER, AFTER = "pharmacy_claims/acme/jan.csv", "pharmacy_claims/acme/feb.csv"


async def test_a_flagged_file_loads_its_copy_is_held_as_a_duplicate_and_a_held_senders_file_waits(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    body = samples.csv_bytes("pharmacy_claims", 5000, 0.25, seed=81, prefix="W")  # ~1,250 rejected: over 1,000
    async with deployment(stack, unique, tmp_path, STREAMPROC_OPERATOR="ops", STREAMPROC_CONTROLS="true") as d:
        d.start("bridge", "-m", "bridge")
        d.start_worker("worker")
        await d.upload(FLAGGED, body)
        (flagged,) = await d.wait_finished([FLAGGED], limit=180)  # the worker has made its ledger tables
        held = await cli(d.env, "hold", "--prefix", "pharmacy_claims/acme/", "--reason", "contract renewal")
        assert held.returncode == 0, held.stderr
        await d.upload(COPY, gzip.compress(body))
        await d.upload(HELD_SENDER, samples.csv_bytes("pharmacy_claims", 30, 0.0, seed=82, prefix="S"))
        rows = {r["key"]: r for r in await d.wait_finished([COPY, HELD_SENDER], limit=180, statuses=("HELD",))}
        lifted = await cli(d.env, "unhold", "--prefix", "pharmacy_claims/acme/")
        await d.upload(AFTER, samples.csv_bytes("pharmacy_claims", 30, 0.0, seed=83, prefix="T"))
        (after,) = await d.wait_finished([AFTER], limit=180)
        loaded = await d.count("pharmacy_claims")
    assert (held.returncode, lifted.returncode) == (0, 0), held.stderr + lifted.stderr
    assert flagged["status"] == "PARTIAL"
    assert flagged["rows_loaded"] == flagged["rows_valid"] > 3000
    assert [(f["control"], f["action"]) for f in flagged["controls"]] == [("error budget (rows rejected)", "warn")]
    duplicate = [f for f in rows[COPY]["controls"] if f["control"] == "duplicate file"]
    assert [f["actual"] for f in duplicate] == [f"same content as s3://{d.aws.bucket}/{FLAGGED}"]
    assert rows[COPY]["content_sha256"] == flagged["content_sha256"]  # the decompressed content, not the gzip's
    (sender,) = rows[HELD_SENDER]["controls"]
    assert (sender["control"], sender["actual"]) == (
        "sender hold",
        "prefix pharmacy_claims/acme/ held by ops: contract renewal",
    )
    assert after["status"] == "COMPLETED"
    assert loaded == flagged["rows_valid"] + 30  # nothing of the copy or of the held sender's file
