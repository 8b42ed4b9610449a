"""The randomized fault run (docs/chaos.md), seeded and about three minutes long: the real bridge and two workers
on a private three-broker cluster, PostgreSQL and moto, faults injected one at a time; any violation the checker
finds fails the test, and the report is kept in test-output/chaos-test.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.chaos.run import run
from devstack.settings import REPO_ROOT

SEED = 11
MINUTES = 3.0


@pytest.mark.slow
@pytest.mark.chaos
@pytest.mark.timeout(1200)
async def test_a_seeded_three_minute_fault_run_loses_doubles_and_misplaces_nothing(tmp_path: Path) -> None:
    made = await run(MINUTES, SEED, tmp_path / "state", REPO_ROOT / "test-output" / "chaos-test.json")
    assert made["faults"]["total"] >= 5, made["faults"]  # the tail draws faults of up to 120 s
    assert made["checked"]["rows"] > 0
    assert made["violations"] == [], f"{made['violation_count']} violation(s), first: {made['violations'][:5]}"
