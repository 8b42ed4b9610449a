"""The file statuses in one place: the README's table, the ledger's vocabulary and the CHECK constraint agree."""

from __future__ import annotations

import re
from pathlib import Path

from streamproc.ingest.ledger import FINAL, STATUS_DOCS, STATUSES, status_table

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_status_table_is_the_ledgers() -> None:
    readme = (ROOT / "README.md").read_text()
    assert status_table() in readme, "README's status table differs: paste streamproc.ingest.ledger.status_table()"


def test_every_status_is_documented_in_list_order_and_final_means_the_same_everywhere() -> None:
    assert tuple(d.status for d in STATUS_DOCS) == STATUSES
    assert tuple(d.status for d in STATUS_DOCS if d.final) == FINAL


def test_the_latest_check_constraint_allows_exactly_the_statuses() -> None:
    migrations = sorted((ROOT / "streamproc" / "adapters" / "migrations").glob("*.sql"))
    checks = [m for m in migrations if "CHECK (status IN" in m.read_text()]
    latest = checks[-1].read_text()
    allowed = re.findall(r"'([A-Z_]+)'", latest[latest.index("CHECK (status IN") :].split(")")[0])
    assert set(allowed) == set(STATUSES), checks[-1].name
