"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright (no browser is downloaded).

Screenshots go to test-output/browser/ (STREAMPROC_TEST_OUTPUT overrides); with STREAMPROC_README_SCREENSHOT=1
the dashboard's also replaces docs/pipeline-dashboard.png, the one the README shows.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from playwright.async_api import TimeoutError as PlaywrightTimeout

from devstack.stack import Endpoints
from streamproc.datasets import samples
from tests.integration.web_support import WebDeployment, web_deployment

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("STREAMPROC_CHROMIUM", "/usr/bin/chromium"))
OUTPUT = Path(os.environ.get("STREAMPROC_TEST_OUTPUT", REPO / "test-output")) / "browser"
README_PNG = REPO / "docs" / "pipeline-dashboard.png"
# Playwright adds --headless and --no-sandbox itself and gives every launch a fresh temporary --user-data-dir.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium() -> Path:
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        pytest.skip(
            f"no Chromium at {CHROMIUM}: install Debian's package (`apt-get install chromium`, as .ci/run does) "
            "or point STREAMPROC_CHROMIUM at a Chromium executable"
        )
    return CHROMIUM


async def ingest_samples(d: WebDeployment) -> dict[str, dict[str, object]]:
    """A claims file with bad rows, a gzipped audit file, a file nobody claims and a hostile key; all finished."""
    files = {
        "pharmacy_claims/claims_2026-11-30.csv": samples.csv_bytes("pharmacy_claims", 5000, 0.01, seed=71, prefix="B"),
        "audit_records/audit_2026-11-30.csv.gz": gzip.compress(
            samples.csv_bytes("audit_records", 3000, 0.0, seed=72, prefix="U")
        ),
        "pharmacy_claim_2026-11-30.csv": samples.csv_bytes("pharmacy_claims", 50, 0.0, seed=73, prefix="S"),
        "misc/unknown.csv": b"colour,size\nred,9\n",
        "pharmacy_claims/<script>alert(1)</script>.csv": samples.csv_bytes("pharmacy_claims", 20, 0.1, seed=74),
    }
    for key, body in files.items():
        await d.upload(key, body)
    return {key: await d.finished(key) for key in files}


async def open_file_page(page: Page, key: str, file_id: object) -> None:
    """Click the key in the files table; a self-refresh racing the click only costs another try."""
    for _ in range(3):
        await page.locator("#files tr", has_text=key).get_by_role("link", name=key).click()
        try:
            await page.wait_for_url(f"**/pipeline/files/{file_id}/", timeout=5000)
        except PlaywrightTimeout:
            continue
        return
    await page.wait_for_url(f"**/pipeline/files/{file_id}/", timeout=5000)


async def test_the_dashboard_shows_an_ingested_file_and_its_reasons_in_chromium(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    executable = chromium()
    async with web_deployment(stack, unique, tmp_path) as d:
        d.start("bridge")
        d.start("worker")
        await d.wait_web()
        rows = await ingest_samples(d)
        key = "pharmacy_claims/claims_2026-11-30.csv"
        row = rows[key]
        assert (row["status"], row["rows_read"], row["reconciled"]) == ("PARTIAL", 5000, True)
        detail = (await d.get(f"/api/files/{row['id']}/")).json()
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=str(executable), args=FLAGS)
            try:
                await check_in_browser(browser, d, row, detail["rejects"])
            finally:
                await browser.close()


async def check_in_browser(
    browser: Browser, d: WebDeployment, row: dict[str, object], rejects: list[dict[str, Any]]
) -> None:
    page = await browser.new_page(viewport={"width": 1440, "height": 1000})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await page.goto(f"{d.url}/pipeline/")
    await expect(page.locator('[data-check="sqs"].ok')).to_have_count(1, timeout=20_000)
    key = str(row["key"])
    line = page.locator("#files tr", has_text=key)
    await expect(line).to_have_count(1)
    cells = await line.locator("td").all_inner_texts()
    assert cells[1:8] == [key, "pharmacy_claims", "PARTIAL", "5,000", f"{row['rows_loaded']:,}",
                          f"{row['rows_dead_lettered']:,}", "yes"]  # fmt: skip
    OUTPUT.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=OUTPUT / "pipeline.png", full_page=True)
    if os.environ.get("STREAMPROC_README_SCREENSHOT") == "1":
        shutil.copyfile(OUTPUT / "pipeline.png", README_PNG)

    await open_file_page(page, key, row["id"])
    await expect(page.locator("h1")).to_contain_text(f"file {row['id']}")
    reasons = page.locator("#reasons tbody tr")
    await expect(reasons).to_have_count(len(rejects))
    first = reasons.nth(0)
    texts = await first.locator("td").all_inner_texts()
    assert texts[0] == f"{rejects[0]['line']:,}"
    assert texts[3:5] == [rejects[0]["errors"][0]["field"], rejects[0]["errors"][0]["rule"]]
    await page.screenshot(path=OUTPUT / "file.png", full_page=True)
    assert dialogs == []  # the hostile key on the dashboard ran nothing
