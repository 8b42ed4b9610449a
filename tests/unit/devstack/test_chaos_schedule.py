"""The chaos run's pure parts: the seeded schedule (same seed, same faults; durations mostly 1-10 s with a tail to
120 s), the generator's expected outcomes, and the report's percentiles."""

from __future__ import annotations

import gzip
import itertools
import random

from devstack.chaos import generator, schedule
from devstack.chaos.report import percentile
from tests.integration import test_chaos


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    assert schedule.first(7, 300) == schedule.first(7, 300)
    assert schedule.first(7, 300) != schedule.first(8, 300)


def test_durations_are_mostly_short_with_a_tail_to_120_seconds() -> None:
    faults = schedule.first(1, 5000)
    durations = [f.duration for f in faults]
    short = sum(1 for d in durations if d <= 10.0) / len(durations)
    assert all(1.0 <= d <= 120.0 for d in durations)
    assert 0.92 <= short <= 0.98
    assert max(durations) > 60.0
    assert sum(schedule.histogram(durations).values()) == len(durations)


def test_every_kind_is_drawn_and_targets_are_the_runs_own_processes() -> None:
    faults = schedule.first(3, 2000)
    assert {f.kind for f in faults} == set(schedule.KINDS)
    for f in faults:
        assert f.target in schedule.KINDS[f.kind][1]
        if f.kind == "kafka-slow":
            assert abs(sum(f.stutter) - f.duration) < 0.01
            assert all(0 < step <= 1.0 for step in f.stutter)


def test_the_ci_seeds_first_faults_hit_every_process_kind_and_are_all_short() -> None:
    faults = schedule.first(test_chaos.SEED, 8)
    assert {schedule.process_of(f.kind) for f in faults} >= test_chaos.EVERY_PROCESS
    assert sum(f.duration + f.gap for f in faults) < 60  # leaves the 2.5-minute run time for their recoveries


def test_the_file_plan_is_seeded_and_its_expected_outcomes_are_exact() -> None:
    first = list(itertools.islice(generator.plan(5), 60))
    assert [f.key for f in first] == [f.key for f in itertools.islice(generator.plan(5), 60)]
    assert {f.kind.split(":")[0] for f in first} == set(generator.KIND_WEIGHTS)
    for f in first:
        for v in f.versions:
            assert v.valid + len(v.rejected) == v.rows
            assert {line for _, line in v.keys}.isdisjoint(v.rejected)
        if f.kind == "partial":
            assert f.versions[0].rejected and f.versions[0].statuses == {generator.PARTIAL}
        if f.kind == "overwritten":
            old, new = f.versions
            assert old.statuses == {generator.COMPLETED, generator.SUPERSEDED}
            assert {k for k, _ in old.keys} <= {k for k, _ in new.keys}  # the newest version's rows win every key
            assert f.uploads == (0, 1)
        if f.kind == "duplicate":
            assert f.uploads == (0, 0)
        if f.kind == "gzip":
            assert f.key.endswith(".csv.gz")
            assert gzip.decompress(f.versions[0].body).split(b",")[0] in {b"claim_id", b"audit_id"}
        if f.kind.startswith("hostile"):
            assert f.versions[0].statuses == {generator.FAILED} and f.versions[0].error_class
        if f.kind == "held":  # over the seed datasets' error budget, with rows to load if released
            (held,) = f.versions
            assert 0.5 < len(held.rejected) / held.rows < 1.0
            want = {"release": generator.PARTIAL, "decline": generator.DECLINED}[held.decision or ""]
            assert held.statuses == {want}
        if f.kind == "copy":  # the same bytes again under another key, declined as a duplicate
            original, copy = f.versions
            assert (copy.body, copy.decision) == (original.body, "decline")
            assert copy.statuses == {generator.DECLINED}
            assert f.copy_key and f.copy_key != f.key
    made = [generator.make("held", n, random.Random(n)) for n in range(12)]
    assert {f.versions[0].decision for f in made} == {"release", "decline"}


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile([], 0.5)) == (50.0, 95.0, None)
