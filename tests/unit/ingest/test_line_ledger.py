"""Counting each line of a file version once, from a high-water mark per partition, and a batch's rows per key."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from streamproc.datasets.registry import load_registry
from streamproc.ingest.ledger import count_fresh
from streamproc.ingest.sink_batch import Decoded, load_batch

CLAIMS = load_registry().by_name("pharmacy_claims")


def test_one_pass_counts_every_line_and_moves_the_mark_to_the_last() -> None:
    assert count_fresh([2, 5, 9], 0) == (3, 9)


def test_a_replay_or_forced_pass_counts_nothing_again() -> None:
    assert count_fresh([2, 5, 9], 9) == (0, 9)


def test_a_resumed_pass_after_a_crash_counts_only_lines_past_what_was_counted() -> None:
    first_pass, resumed = [2, 5, 9], [5, 9, 12, 14]  # resumed at or below the acknowledged line
    assert count_fresh(first_pass + resumed, 0) == (5, 14)


@pytest.mark.parametrize("seed", range(20))
def test_interleaved_passes_count_each_line_exactly_once(seed: int) -> None:
    """Any interleaving of increasing passes, each starting at or below what an earlier pass reached."""
    rng = random.Random(seed)
    lines = sorted(rng.sample(range(2, 500), 60))
    passes = [lines[: rng.randrange(1, 60)]]
    while len(passes[-1]) < len(lines) or rng.random() < 0.3:
        reached = len(passes[-1])
        start = rng.randrange(0, reached + 1)
        passes.append(lines[start : rng.randrange(start + 1, len(lines) + 1)])
    merged: list[int] = []
    cursors = [0] * len(passes)
    for index in sorted((i for i, p in enumerate(passes) for _ in p), key=lambda i: (i, rng.random())):
        merged.append(passes[index][cursors[index]])
        cursors[index] += 1
    counted, high = 0, 0
    for chunk in (merged[i : i + 7] for i in range(0, len(merged), 7)):  # several sink batches
        fresh, high = count_fresh(chunk, high)
        counted += fresh
    assert counted == len({line for p in passes for line in p})


def item(
    partition: int, offset: int, claim: str, line: int, seconds: int = 0, key: str = "f.csv", sequencer: str = ""
) -> Decoded:
    """A decoded record as the sink holds it: a real row event JSON read with the sink's text decoder."""
    when = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    row = dict.fromkeys(CLAIMS.column_names, "1") | {"claim_id": claim, "days_supply": 1, "drug_name": None}
    provenance: dict[str, object] = {"bucket": "b", "key": key, "version": "v", "line": line, "event_time": when}
    if sequencer:
        provenance["sequencer"] = sequencer
    raw = msgspec.json.encode({"schema_version": 1, "dataset": CLAIMS.name, "provenance": provenance, "row": row})
    event = CLAIMS.text_decoder.decode(raw)
    return partition, offset, event, (*msgspec.structs.astuple(event.row), *msgspec.structs.astuple(event.provenance))


def test_a_batch_upserts_one_row_per_claim_the_latest_provenance_and_counts_every_line() -> None:
    items = [item(0, 0, "A", 2, seconds=5), item(1, 0, "B", 3), item(0, 1, "A", 9, seconds=1), item(1, 1, "C", 4)]
    batch = load_batch(CLAIMS, "t", items)
    stored = {str(row[0]): row for row in batch.rows}
    assert sorted(stored) == ["A", "B", "C"]
    assert stored["A"][-3] == 2  # line 2 has the later S3 event time, so it wins over line 9
    assert batch.lines == {("b", "f.csv", "v"): {0: [2, 9], 1: [3, 4]}}


def test_an_append_only_dataset_keeps_the_first_row_of_a_key() -> None:
    audits = load_registry().by_name("audit_records")
    items = [item(0, 0, "A", 2, seconds=1), item(0, 1, "A", 3, seconds=9)]
    batch = load_batch(audits, "t", items)  # only its conflict rule and natural key position matter here
    assert [row[-3] for row in batch.rows] == [2]


def test_two_puts_of_one_key_in_the_same_millisecond_are_ordered_by_the_s3_sequencer_left_padded() -> None:
    # Same event time; "00FF" is later than "0A" once both are left-padded ("0A" is 10, "00FF" is 255),
    # although "0A" > "00FF" as plain strings. The later PUT wins even with a lower line number.
    items = [item(0, 0, "A", 9, key="k.csv", sequencer="0A"), item(0, 1, "A", 2, key="k.csv", sequencer="00FF")]
    assert [row[-3] for row in load_batch(CLAIMS, "t", items).rows] == [2]
    assert [row[-3] for row in load_batch(CLAIMS, "t", items[::-1]).rows] == [2]
    older_without = [item(0, 0, "A", 2, key="k.csv"), item(0, 1, "A", 3, key="k.csv", sequencer="01")]
    assert [row[-3] for row in load_batch(CLAIMS, "t", older_without).rows] == [3]
