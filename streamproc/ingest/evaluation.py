"""A file of a dataset with controls, between its evaluation pass and its publication (see streamproc.ingest.split).

Its records go to a spool on the worker's disk as the parser yields them (never a topic: consumers read the dataset
topics), the parser's tally sums and hashes it, and at its end the verdict decides: published from the spool, or
HELD with only its dead letters published.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import msgspec

from streamproc.datasets.controls import Finding, Verdict, duplicate, evaluate
from streamproc.ingest.ledger import Claim, Judgement, SenderHold
from streamproc.ingest.parsing import CsvFileParser, Parsed, RejectedRow, ValidRow
from streamproc.ingest.spool import LETTER, ROW, Spool

SPOOL_BATCH = 5_000  # records read back from the spool per step of the publishing pass
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(RejectedRow)
Judge = Callable[[Judgement], Awaitable[str | None]]  # the ledger's judge under a split's fence


class FileHeld(Exception):
    """The file failed a control: no row of it was published, only its dead letters (the evidence)."""

    def __init__(self, verdict: Verdict, sha256: str) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict
        self.sha256 = sha256


def held(hold: SenderHold) -> Finding:
    """The finding of a file whose sender (or dataset) an operator holds."""
    return Finding("sender hold", "hold", "no hold in force", f"{hold.what} held by {hold.by}: {hold.reason}")


class Evaluation:
    """One pass's records, spooled in line order, and the verdict on the file once the parser has closed."""

    def __init__(self, directory: Path | None, max_bytes: int) -> None:
        self.spool = Spool(directory or Path(tempfile.gettempdir()) / "streamproc-spool", max_bytes=max_bytes)

    def add(self, parsed: list[Parsed]) -> None:
        encode = _ENCODER.encode
        self.spool.add_many(
            [
                (ROW, r.line, r.key, r.row_json) if isinstance(r, ValidRow) else (LETTER, r.line, b"", encode(r))
                for r in parsed
            ]
        )

    @staticmethod
    def verdict(parser: CsvFileParser) -> tuple[Verdict, str]:
        """Every control of the file's dataset (and sender) against what the parser tallied; the content's hash."""
        tally = parser.tally
        if tally is None:
            msg = "a file without controls has no verdict"
            raise RuntimeError(msg)
        facts = tally.facts(parser.rows_read, parser.rows_rejected)
        found = evaluate(tally.controls, facts, [tally.trailer] if tally.trailer is not None else [])
        return Verdict((*tally.findings(), *found.findings)), tally.sha256

    @staticmethod
    async def judged(parser: CsvFileParser, claim: Claim, key: str, ledger: Judge) -> tuple[Verdict, str]:
        """The file's verdict, taken once per version before anything of it is published: a version judged before
        (passed, or released) passes again if its content hashes the same. Otherwise its controls, the sender holds
        that cover it and, if its dataset says so, a file loaded before with the same content; the ledger records
        the hash of a file that passes (`ledger`: FileLedger.judge under the split's fence)."""
        verdict, sha256 = Evaluation.verdict(parser)
        if claim.judged is not None:
            if sha256 == claim.judged:
                return Verdict(), sha256
            changed = Finding("content", "hold", f"SHA-256 {claim.judged}, as judged before", f"SHA-256 {sha256}")
            return Verdict((changed,)), sha256
        dataset, controls = parser.dataset, parser.tally.controls if parser.tally else None
        if dataset is None or controls is None:
            msg = "a file is judged once its header is read"
            raise RuntimeError(msg)
        holds = [h for h in claim.holds if h.covers(key, dataset.name)]
        found = (*verdict.findings, *(held(h) for h in holds))
        warnings = tuple(dataclasses.asdict(f) for f in found if f.action == "warn")
        passes = not Verdict(found).held
        judgement = Judgement(
            dataset=dataset.name, sha256=sha256, duplicates=controls.duplicates, passes=passes, warnings=warnings
        )
        first = await ledger(judgement)
        return Verdict((*found, duplicate(first)) if first is not None else found), sha256

    def records(self, *, rows_only: bool = False) -> Iterator[list[Parsed]]:
        """Every record (or only the valid rows), in line order, SPOOL_BATCH at a time."""
        for batch in self.spool.batches(SPOOL_BATCH):
            if rows_only:
                yield [ValidRow(r.line, r.key, r.value) for r in batch if r.kind == ROW]
            else:
                yield [ValidRow(r.line, r.key, r.value) if r.kind == ROW else _DECODER.decode(r.value) for r in batch]

    def rejected(self) -> Iterator[list[RejectedRow]]:
        """The rejected rows only, in line order."""
        for batch in self.spool.batches(SPOOL_BATCH):
            if rows := [_DECODER.decode(r.value) for r in batch if r.kind == LETTER]:
                yield rows

    def close(self) -> None:
        self.spool.close()
