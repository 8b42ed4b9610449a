"""Manifests on the real stack, through S3's own notifications and the bridge: a manifest that comes before its file
and one that comes after (the file waits AWAITING_MANIFEST, nothing published), one that never comes (HELD,
manifest missing, after STREAMPROC_MANIFEST_WAIT_SECONDS), one whose SHA-256 disagrees (HELD), and one whose data
file never comes (reported)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devstack.deployment import deployment
from devstack.stack import Endpoints
from streamproc.datasets import samples
from tests.datasets.manifested_claims import manifest_of

EXTRA = "tests.datasets.manifested_claims"
WAIT = 8


async def test_files_wait_for_their_manifests_and_one_that_never_comes_or_disagrees_holds_its_file(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    bodies = {name: samples.csv_bytes("pharmacy_claims", 60, 0.0, seed=60 + i, prefix=name[:2].upper())
              for i, name in enumerate(("before", "after", "missing", "mismatch"))}  # fmt: skip
    keys = {name: f"manifested_claims/{name}.csv" for name in bodies}
    async with deployment(
        stack,
        unique,
        tmp_path,
        STREAMPROC_EXTRA_DATASETS=EXTRA,
        STREAMPROC_MANIFEST_WAIT_SECONDS=str(WAIT),
        STREAMPROC_CONTROLS="true",
    ) as d:
        d.start("bridge", "-m", "bridge")
        d.start_worker("worker")
        await d.upload(keys["before"] + ".manifest.json", manifest_of(bodies["before"]))
        await asyncio.sleep(1)
        await d.upload(keys["before"], bodies["before"])
        await d.upload(keys["after"], bodies["after"])
        await d.upload(keys["missing"], bodies["missing"])
        await d.upload(keys["mismatch"] + ".manifest.json", manifest_of(bodies["mismatch"], sha="0" * 64))
        await d.upload(keys["mismatch"], bodies["mismatch"])
        await d.upload("manifested_claims/never.csv.manifest.json", manifest_of(bodies["before"]))
        (waiting,) = await d.wait_finished([keys["after"]], statuses=("AWAITING_MANIFEST",))
        loaded_while_waiting = await d.count("manifested_claims")
        await d.upload(keys["after"] + ".manifest.json", manifest_of(bodies["after"]))
        done = await d.wait_finished([keys["before"], keys["after"]], limit=120)
        held = await d.wait_finished([keys["missing"], keys["mismatch"]], limit=120, statuses=("HELD",))
        loaded = await d.count("manifested_claims")
        for _ in range(60):
            if "its data file has not come since" in d.log_text():
                break
            await asyncio.sleep(0.5)
        log = d.log_text()
    assert waiting["rows_read"] == 60
    assert loaded_while_waiting <= 60  # at most the file whose manifest came first
    assert [(r["status"], r["rows_loaded"]) for r in done] == [("COMPLETED", 60), ("COMPLETED", 60)]
    assert loaded == 120
    missing, mismatch = sorted(held, key=lambda r: r["key"] != keys["missing"])
    assert [f["control"] for f in missing["controls"]] == ["manifest"]
    assert missing["controls"][0]["actual"].startswith("none after")
    assert [f["control"] for f in mismatch["controls"]] == ["manifest SHA-256"]
    assert "its data file has not come since" in log
