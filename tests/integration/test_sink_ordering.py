"""The upsert orders two versions of one row as the sink's batch does: S3 event time, then its sequencer
(two PUTs of one key in the same millisecond), compared left-padded (issue 16, defect 4)."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from devstack.harness import running_pipeline
from devstack.stack import Endpoints
from streamproc.contract.events import ENCODER, Provenance
from streamproc.datasets import samples
from streamproc.datasets.model import Dataset
from streamproc.datasets.registry import load_registry
from streamproc.ingest.parsing import CsvFileParser, ValidRow
from streamproc.ingest.sink_batch import Decoded, load_batch


def _item(dataset: Dataset, version: str, line: int, sequencer: str) -> Decoded:
    parser = CsvFileParser(load_registry(), "pharmacy_claims/k.csv", gzip=False)
    (valid,) = [r for r in parser.feed(samples.csv_bytes(dataset.name, 1, 0.0, seed=3)) + parser.close()]
    assert isinstance(valid, ValidRow)
    when = datetime(2026, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC)  # both PUTs in one millisecond
    provenance = Provenance(bucket="b", key="k.csv", version=version, line=line, event_time=when, sequencer=sequencer)
    raw = ENCODER.encode(dataset.event(dataset.row_decoder.decode(valid.row_json), provenance))
    event = dataset.text_decoder.decode(raw)
    return 0, line, event, (*msgspec.structs.astuple(event.row), *msgspec.structs.astuple(event.provenance))


async def test_the_later_put_by_sequencer_wins_in_the_table_whichever_batch_comes_last(
    stack: Endpoints, unique: str
) -> None:
    async with running_pipeline(stack, unique, run_sinks=False) as h:
        claims = h.registry.by_name("pharmacy_claims")
        earlier = _item(claims, "v-early", 9, "0A")  # 0x0A: the first PUT (and "0A" > "00FF" as plain text)
        later = _item(claims, "v-late", 2, "00FF")  # 0xFF: the second PUT, on a lower line
        for batch in ([later], [earlier]):  # the later PUT is loaded first; the earlier one must not replace it
            await h.pipeline.rows.write_batch(claims, load_batch(claims, claims.topic, batch))
        (row,) = await h.query("SELECT src_version, src_sequencer, src_line FROM pharmacy_claims")
    assert (row["src_version"], row["src_sequencer"], row["src_line"]) == ("v-late", "00FF", 2)
