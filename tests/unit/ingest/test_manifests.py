"""Manifests over fakes: one that came first is checked with the file; a file that comes first waits with nothing
published until its manifest's event hands it again; past the wait it is HELD (manifest missing); a manifest that
disagrees or cannot be read holds the file with the reason; the sweeper hands overdue files again and reports
orphaned manifests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streamproc.contract.events import OBJECT_EVENT_DECODER, ObjectEvent
from streamproc.datasets import samples
from streamproc.datasets.controls import Controls, ManifestRule
from streamproc.ingest.ledger import AWAITING_MANIFEST, HELD
from streamproc.ingest.manifests import ManifestSweeper
from tests.datasets.manifested_claims import manifest_of
from tests.unit.fakes import FakeLedger
from tests.unit.ingest.test_fanout import World, _with_controls

REQUIRED = Controls(manifest=ManifestRule(required=True, sums=("total_paid",)))
KEY = "pharmacy_claims/m.csv"


@dataclass
class FakeManifests:
    """The ledger's manifests over the fake ledger's statuses."""

    ledger: FakeLedger
    arrivals: list[tuple[str, str]] = field(default_factory=list)
    due: list[Mapping[str, Any]] = field(default_factory=list)
    stray: list[Mapping[str, Any]] = field(default_factory=list)

    async def arrived(self, bucket: str, key: str, data_key: str, etag: str | None) -> list[Mapping[str, Any]]:
        self.arrivals.append((key, data_key))
        return [
            _row(v) for v, (status, _) in self.ledger.status.items() if v[1] == data_key and status == AWAITING_MANIFEST
        ]

    async def overdue(self, wait: float) -> list[Mapping[str, Any]]:
        due, self.due = self.due, []
        return due

    async def orphans(self, wait: float) -> list[Mapping[str, Any]]:
        stray, self.stray = self.stray, []
        return stray


def _row(version: tuple[str, str, str]) -> dict[str, Any]:
    bucket, key, etag = version
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return {"bucket": bucket, "key": key, "version": etag, "etag": etag, "size": 1, "event_time": at, "received_at": at}


def _body(rows: int = 40, seed: int = 31) -> bytes:
    return samples.csv_bytes("pharmacy_claims", rows, 0.0, seed=seed)


def _world(tmp_path: Path, *, wait: float = 3600.0) -> tuple[World, FakeManifests]:
    ledger = FakeLedger()
    manifests = FakeManifests(ledger)
    w = World(
        registry=_with_controls(REQUIRED), spool_dir=tmp_path, ledger=ledger, manifests=manifests, manifest_wait=wait
    )
    return w, manifests


def _handed(w: World) -> list[ObjectEvent]:
    return [OBJECT_EVENT_DECODER.decode(v) for _, v in w.producer.records("objects")]


async def test_a_manifest_that_came_first_is_checked_with_its_file_and_the_file_loads(tmp_path: Path) -> None:
    w, _ = _world(tmp_path)
    body = _body()
    w.put(KEY + ".manifest.json", manifest_of(body))
    await w.ingest(w.put(KEY, body))
    (counts,) = w.ledger.finished
    assert (counts.rows_read, len(w.claim_keys())) == (40, 40)
    assert w.ledger.held == []


async def test_a_file_that_comes_first_waits_with_nothing_published_until_its_manifest_hands_it_again(
    tmp_path: Path,
) -> None:
    w, manifests = _world(tmp_path)
    body = _body()
    ev = w.put(KEY, body)
    await w.ingest(ev)
    assert w.ledger.status[(ev.bucket, ev.key, ev.version)] == (AWAITING_MANIFEST, True)
    assert (w.claim_keys(), w.letters(), w.ledger.finished) == ([], [], [])
    await w.ingest(w.put(KEY + ".manifest.json", manifest_of(body)))  # the manifest's own notification
    assert manifests.arrivals == [(KEY + ".manifest.json", KEY)]
    (again,) = _handed(w)
    assert (again.key, again.event_name, again.forced) == (KEY, "ObjectCreated:Manifest", False)
    await w.ingest(again)
    assert len(w.claim_keys()) == 40
    assert [c.rows_read for c in w.ledger.finished] == [40]


async def test_a_file_whose_manifest_does_not_come_in_time_is_held_manifest_missing(tmp_path: Path) -> None:
    w, _ = _world(tmp_path, wait=10.0)
    w.ledger.waited = 11.0  # notified 11 s ago, handed again by the sweeper
    await w.ingest(w.put(KEY, samples.csv_bytes("pharmacy_claims", 40, 0.2, seed=32)))
    ((held, counts),) = w.ledger.held
    (finding,) = held.findings
    assert (finding["control"], finding["expected"], finding["actual"]) == (
        "manifest",
        "a manifest m.csv.manifest.json",
        "none after 11 s",
    )
    assert w.claim_keys() == []
    assert len(w.letters()) == counts.rows_rejected > 0  # the evidence, as for any held file


@pytest.mark.parametrize(
    ("manifest", "control", "actual"),
    [
        (lambda b: manifest_of(b, count=39), "manifest row count", "40"),
        (lambda b: manifest_of(b, sha="0" * 64), "manifest SHA-256", None),
        (lambda b: b"{not json", "manifest", "manifest is not JSON"),
        (
            lambda b: manifest_of(b)[:-1] + b', "sha256": "abc"}',
            "manifest",
            "manifest sha256 is not 64 hexadecimal digits (3 characters)",
        ),
        (lambda b: b" " * (64 * 1024 + 1), "manifest", None),
    ],
)
async def test_a_manifest_that_disagrees_or_cannot_be_read_holds_the_file_with_the_reason(
    tmp_path: Path, manifest: Any, control: str, actual: str | None
) -> None:
    w, _ = _world(tmp_path)
    body = _body()
    w.put(KEY + ".manifest.json", manifest(body))
    await w.ingest(w.put(KEY, body))
    ((held, _),) = w.ledger.held
    assert [f["control"] for f in held.findings] == [control]
    if actual is not None:
        assert held.findings[0]["actual"] == actual
    assert w.claim_keys() == []
    assert w.ledger.status[("drop", KEY, "e1")][0] == HELD


async def test_the_sweeper_hands_overdue_files_again_and_reports_an_orphaned_manifest_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, manifests = _world(tmp_path)
    manifests.due = [_row(("drop", KEY, "e1"))]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    manifests.stray = [{"id": 4, "bucket": "drop", "manifest_key": "x.csv.manifest.json", "received_at": at}]
    sweeper = ManifestSweeper(w.fanout.context, manifests, every=1.0)
    await sweeper.sweep()
    await sweeper.sweep()
    (overdue,) = _handed(w)
    assert (overdue.key, overdue.event_name) == (KEY, "ObjectCreated:ManifestOverdue")
    assert (sweeper.stats.overdue, sweeper.stats.orphaned) == (1, 1)
    assert "manifest 4 in bucket drop came 2026-01-01T00:00:00+00:00" in caplog.text
    assert "x.csv" not in caplog.text
