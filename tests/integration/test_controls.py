"""Controls on the real stack (issue 17, the parts built so far): a file over its error budget is HELD with no row
published or loaded, its dead letters out and its failed control in the ledger; a file whose trailer reconciles
loads, trailer excluded; a held file notified again publishes nothing more."""

from __future__ import annotations

import csv
import hashlib
import io
from decimal import Decimal

from devstack.harness import running_pipeline
from devstack.stack import Endpoints
from streamproc.datasets import samples
from tests.integration.test_pipeline import dead_letters

EXTRA = ["tests.datasets.controlled_claims"]


def _claims(rows: int, bad_share: float, seed: int, *, trailer: bool = True) -> bytes:
    body = samples.csv_bytes("pharmacy_claims", rows, bad_share, seed=seed, prefix="H")
    header, *records = csv.reader(io.StringIO(body.decode()))
    column = header.index("total_paid")
    total = sum((Decimal(r[column]) for r in records if _number(r[column])), Decimal(0))
    return body + (f"TRAILER,{rows},{total}\r\n".encode() if trailer else b"")


def _number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except ArithmeticError:
        return False


async def test_a_file_over_its_error_budget_is_held_and_nothing_of_it_is_loaded(stack: Endpoints, unique: str) -> None:
    body = _claims(200, 0.4, seed=11)
    async with running_pipeline(stack, unique, extra_datasets=EXTRA) as h:
        event = await h.upload("controlled_claims/bad.csv", body)
        await h.ingest(event)
        await h.ingest(event)  # notified again (or a replay of ingest.objects): recorded and skipped
        await h.wait_drained()
        (row,) = await h.query("SELECT * FROM ingest_files WHERE key = %s", event.key)
        loaded = await h.query("SELECT count(*) AS n FROM controlled_claims")
        rejects = await h.query("SELECT count(*) AS n FROM ingest_file_rejects WHERE file_id = %s", row["id"])
        letters = await dead_letters(h, row["rows_rejected"] + 1, limit=10)
    assert row["status"] == "HELD"
    assert (row["rows_read"], row["rows_loaded"], row["duplicate_events"]) == (200, 0, 1)
    assert 40 < row["rows_rejected"] < 120
    assert row["content_sha256"] == hashlib.sha256(body).hexdigest()
    (finding,) = row["controls"]
    assert finding["control"].startswith("error budget")
    assert finding["action"] == "hold"
    assert "expected" in row["error_summary"]
    assert loaded[0]["n"] == 0
    assert rejects[0]["n"] == row["rows_rejected"]
    assert len(letters) == row["rows_rejected"]  # published once, at the evaluation: the evidence
    assert {(x.stage, x.key) for x in letters} == {("split", event.key)}


async def test_a_file_whose_trailer_reconciles_loads_every_row_and_not_the_trailer(
    stack: Endpoints, unique: str
) -> None:
    async with running_pipeline(stack, unique, extra_datasets=EXTRA) as h:
        good = await h.upload("controlled_claims/good.csv", _claims(120, 0.0, seed=12))
        cut = await h.upload("controlled_claims/cut.csv", _claims(120, 0.0, seed=13, trailer=False))
        await h.ingest(good)
        await h.ingest(cut)
        (done,) = await h.wait_finished([good.key])
        await h.wait_drained()
        (held,) = await h.query("SELECT * FROM ingest_files WHERE key = %s", cut.key)
        loaded = await h.query("SELECT count(*) AS n FROM controlled_claims")
    assert (done["status"], done["rows_read"], done["rows_loaded"]) == ("COMPLETED", 120, 120)
    assert loaded[0]["n"] == 120  # the cut file's rows are not among them
    assert held["status"] == "HELD"
    assert [f["control"] for f in held["controls"]] == ["trailer"]
