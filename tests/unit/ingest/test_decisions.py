"""Decisions over fakes: a released file publishes its rows once, a duplicate file and a sender's held files are held,
warnings are recorded on a file that loads, and a version judged before is never held half-published."""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, datetime
from pathlib import Path

from streamproc.datasets import samples
from streamproc.datasets.controls import Controls, ErrorBudget, Limit
from streamproc.ingest.ledger import COMPLETED, HELD, PARTIAL, SenderHold
from tests.unit.fakes import FakeLedger
from tests.unit.ingest.test_fanout import BUDGET, CLAIMS, REGISTRY, World, _empty, _with_controls
from tests.unit.registries import SEEDED

DUPLICATES = Controls(duplicates=True)
AUDIT = "audit_records"


def _hold(prefix: str | None = None, dataset: str | None = None) -> SenderHold:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    return SenderHold(hold_id=1, prefix=prefix, dataset=dataset, reason="contract renewal", by="ops", at=at)


async def test_a_released_file_publishes_each_valid_row_once_and_its_dead_letters_not_again(tmp_path: Path) -> None:
    w = World(registry=_with_controls(BUDGET), spool_dir=tmp_path)
    ev = w.put("pharmacy_claims/bad.csv", samples.csv_bytes("pharmacy_claims", 200, 0.4, seed=3))
    await w.ingest(ev)
    ((held, held_counts),) = w.ledger.held
    letters = len(w.letters())
    w.ledger.release_held(ev)  # what `python -m streamproc release` writes
    await w.ingest(ev)  # its release event
    (counts,) = w.ledger.finished
    keys = w.claim_keys()
    assert len(keys) == len(set(keys)) == counts.rows_valid == held_counts.rows_valid > 100
    assert len(w.letters()) == letters  # published once, when it was held
    assert counts == held_counts
    assert w.ledger.judgements == [w.ledger.judgements[0]]  # judged once, when it was held: no new verdict
    assert w.ledger.status[(ev.bucket, ev.key, ev.version)] == (PARTIAL, True)
    await w.ingest(ev)  # notified again, or a replay: recorded and skipped
    assert len(w.claim_keys()) == len(keys)
    assert held.sha256 == hashlib.sha256(w.store.objects[("drop", ev.key)]).hexdigest()
    assert _empty(tmp_path)


async def test_a_release_whose_content_no_longer_hashes_as_held_is_held_again_with_nothing_published(
    tmp_path: Path,
) -> None:
    w = World(registry=_with_controls(BUDGET), spool_dir=tmp_path)
    ev = w.put("pharmacy_claims/bad.csv", samples.csv_bytes("pharmacy_claims", 100, 0.5, seed=3))
    await w.ingest(ev)
    w.ledger.release_held(ev)
    w.put(ev.key, samples.csv_bytes("pharmacy_claims", 100, 0.0, seed=4))  # other bytes under the same ETag
    await w.ingest(ev)
    assert w.claim_keys() == []
    (_, (again, _)) = w.ledger.held
    assert [f["control"] for f in again.findings] == ["content"]
    assert again.findings[0]["expected"].startswith(f"SHA-256 {w.ledger.held[0][0].sha256}")


async def test_a_file_with_the_content_of_one_loaded_before_is_held_naming_it_even_gzipped(tmp_path: Path) -> None:
    w = World(registry=_with_controls(DUPLICATES), spool_dir=tmp_path)
    body = samples.csv_bytes("pharmacy_claims", 50, 0.0, seed=21)
    await w.ingest(w.put("pharmacy_claims/first.csv", body))
    await w.ingest(w.put("pharmacy_claims/again.csv.gz", gzip.compress(body)))
    ((held, _),) = w.ledger.held
    assert [(f["control"], f["actual"]) for f in held.findings] == [
        ("duplicate file", "same content as s3://drop/pharmacy_claims/first.csv")
    ]
    assert len(w.claim_keys()) == 50  # the first file's rows only
    other = samples.csv_bytes("pharmacy_claims", 50, 0.0, seed=22)
    await w.ingest(w.put("pharmacy_claims/other.csv", other))
    assert len(w.claim_keys()) == 100


async def test_a_copy_of_a_held_file_is_not_a_duplicate_of_it(tmp_path: Path) -> None:
    controls = Controls(budget=ErrorBudget(share=Limit(0.10, "hold")), duplicates=True)
    w = World(registry=_with_controls(controls), spool_dir=tmp_path)
    body = samples.csv_bytes("pharmacy_claims", 100, 0.5, seed=23)
    await w.ingest(w.put("pharmacy_claims/a.csv", body))
    await w.ingest(w.put("pharmacy_claims/b.csv", body))
    budget = ["error budget (share of rows rejected)"]
    assert [[f["control"] for f in h.findings] for h, _ in w.ledger.held] == [budget, budget]


async def test_a_sender_hold_holds_its_files_of_any_dataset_with_controls_or_none_and_no_other_file(
    tmp_path: Path,
) -> None:
    ledger = FakeLedger(holds=(_hold(prefix="pharmacy_claims/acme/"), _hold(dataset=AUDIT)))
    w = World(registry=REGISTRY, spool_dir=tmp_path, ledger=ledger)  # no dataset declares a control here
    await w.ingest(w.put("pharmacy_claims/acme/jan.csv", samples.csv_bytes("pharmacy_claims", 30, 0.1, seed=24)))
    await w.ingest(w.put("pharmacy_claims/other/jan.csv", samples.csv_bytes("pharmacy_claims", 30, 0.0, seed=25)))
    ((held, counts),) = w.ledger.held
    (finding,) = held.findings
    assert (finding["control"], finding["action"]) == ("sender hold", "hold")
    assert finding["actual"] == "prefix pharmacy_claims/acme/ held by ops: contract renewal"
    assert len(w.claim_keys()) == 30  # the other sender's file only
    assert len(w.letters()) == counts.rows_rejected > 0  # the held file's evidence
    assert [c.rows_read for c in w.ledger.finished] == [30]


async def test_a_version_judged_before_is_published_again_without_a_new_verdict(tmp_path: Path) -> None:
    """A resumed or reprocessed pass of a version that passed: a hold placed since does not hold it half-published."""
    w = World(registry=_with_controls(BUDGET), spool_dir=tmp_path)
    ev = w.put("pharmacy_claims/ok.csv", samples.csv_bytes("pharmacy_claims", 60, 0.0, seed=26))
    await w.ingest(ev)
    w.ledger.holds = (_hold(prefix="pharmacy_claims/"),)
    w.ledger.status[(ev.bucket, ev.key, ev.version)] = ("PROCESSING", False)  # its worker died mid-publication
    await w.ingest(ev)
    assert w.ledger.held == []
    assert [c.rows_read for c in w.ledger.finished] == [60, 60]
    assert len(w.ledger.judgements) == 1


async def test_a_file_over_a_warning_limit_loads_and_its_warning_is_recorded(tmp_path: Path) -> None:
    warn = Controls(budget=ErrorBudget(count=Limit(3, "warn")))
    w = World(registry=_with_controls(warn), spool_dir=tmp_path)
    await w.ingest(w.put("pharmacy_claims/w.csv", samples.csv_bytes("pharmacy_claims", 100, 0.2, seed=27)))
    (judged,) = w.ledger.judgements
    (counts,) = w.ledger.finished
    assert judged.passes
    assert [(f["control"], f["action"]) for f in judged.warnings] == [("error budget (rows rejected)", "warn")]
    assert len(w.claim_keys()) == counts.rows_valid
    assert w.ledger.status[("drop", "pharmacy_claims/w.csv", "e1")][0] in (COMPLETED, PARTIAL)
    assert w.ledger.held == []
    assert CLAIMS.name == judged.dataset
    assert HELD not in w.fanout.stats.by_status


async def test_the_seed_datasets_hold_a_mostly_bad_file_flag_a_file_with_many_rejects_and_hold_a_copy(
    tmp_path: Path,
) -> None:
    w = World(registry=SEEDED, spool_dir=tmp_path)
    await w.ingest(w.put("pharmacy_claims/bad.csv", samples.csv_bytes("pharmacy_claims", 100, 0.7, seed=28)))
    many = samples.csv_bytes("pharmacy_claims", 6000, 0.3, seed=29)
    await w.ingest(w.put("pharmacy_claims/many.csv", many))
    await w.ingest(w.put("pharmacy_claims/many-again.csv", many))
    held = {
        event[1]: [f["control"] for f in h.findings]
        for (h, _), event in zip(w.ledger.held, w.ledger.held_events, strict=True)
    }
    assert held == {
        "pharmacy_claims/bad.csv": ["error budget (share of rows rejected)"],
        "pharmacy_claims/many-again.csv": ["error budget (rows rejected)", "duplicate file"],  # its warning too
    }
    _, flagged, _ = w.ledger.judgements  # bad.csv, many.csv, many-again.csv
    assert flagged.passes
    assert [f["control"] for f in flagged.warnings] == ["error budget (rows rejected)"]
    assert w.ledger.finished[0].rows_read == 6000
