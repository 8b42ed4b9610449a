"""A file of a dataset with controls, between its evaluation pass and its publication (see streamproc.ingest.split).

Its records go to a spool on the worker's disk as the parser yields them (never a topic: consumers read the dataset
topics), the parser's tally sums and hashes it, and at its end the verdict decides: published from the spool, or
HELD with only its dead letters published.
"""

from __future__ import annotations

import dataclasses
import operator
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from streamproc.datasets.controls import Declared, Finding, Verdict, duplicate, evaluate
from streamproc.datasets.declared import MANIFEST_SUFFIX, DeclaredInvalid, parse_manifest
from streamproc.ingest.ledger import Claim, Judgement, SenderHold
from streamproc.ingest.parsing import CsvFileParser, Parsed, RejectedRow, ValidRow
from streamproc.ingest.spool import Spool
from streamproc.ingest.tally import Tally

SPOOL_BATCH = 5_000  # at least this many records read back from the spool per step of the publishing pass
_ENCODER = msgspec.msgpack.Encoder()
# A spool frame: one parser step's valid rows and rejected rows, each in line order (msgspec encodes and decodes
# both lists in C: the spool costs about a microsecond a row, not a Python loop over every record).
_Frame = tuple[list[ValidRow], list[RejectedRow]]
_DECODER = msgspec.msgpack.Decoder(_Frame)
_LINE = operator.attrgetter("line")
Judge = Callable[[Judgement], Awaitable[str | None]]  # the ledger's judge under a split's fence


class FileHeld(Exception):
    """The file failed a control: no row of it was published, only its dead letters (the evidence)."""

    def __init__(self, verdict: Verdict, sha256: str) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict
        self.sha256 = sha256


class AwaitingManifest(Exception):
    """The file's dataset requires a manifest that has not come yet: nothing of it is published; it waits."""

    def __init__(self, sha256: str) -> None:
        super().__init__("awaiting its manifest")
        self.sha256 = sha256


@dataclass(frozen=True, kw_only=True)
class Judging:
    """What a verdict needs beyond the parser: the claim, the key, the ledger's judge (under the split's fence), the
    manifest beside the file (its bytes, None if there is none) and how long a required one is waited for."""

    claim: Claim
    key: str
    judge: Judge
    manifest: Callable[[], Awaitable[bytes | None]]
    manifest_wait: float


async def _manifest(tally: Tally, j: Judging) -> tuple[list[Declared], Finding | None, bool]:
    """The totals the file's manifest declares, or the finding of a manifest that is unreadable (or missing while
    required); and whether a required manifest is absent."""
    rule = tally.controls.manifest
    if rule is None:
        return [], None, False
    body = await j.manifest()
    if body is None:
        if not rule.required:
            return [], None, False
        name = f"{j.key.rsplit('/', 1)[-1]}{MANIFEST_SUFFIX}"
        return [], Finding("manifest", "hold", f"a manifest {name}", f"none after {j.claim.waited:.0f} s"), True
    try:
        return [parse_manifest(body, tally.scales)], None, False
    except DeclaredInvalid as exc:
        return [], Finding("manifest", "hold", "a readable manifest", exc.reason), False


def held(hold: SenderHold) -> Finding:
    """The finding of a file whose sender (or dataset) an operator holds."""
    return Finding("sender hold", "hold", "no hold in force", f"{hold.what} held by {hold.by}: {hold.reason}")


class Evaluation:
    """One pass's records, spooled in line order, and the verdict on the file once the parser has closed."""

    def __init__(self, directory: Path | None, max_bytes: int) -> None:
        self.spool = Spool(directory or Path(tempfile.gettempdir()) / "streamproc-spool", max_bytes=max_bytes)

    def add(self, parsed: list[Parsed]) -> None:
        if not parsed:
            return
        rows = [r for r in parsed if type(r) is ValidRow]
        letters = [r for r in parsed if type(r) is RejectedRow] if len(rows) < len(parsed) else []
        self.spool.add(_ENCODER.encode((rows, letters)))

    def _frames(self) -> Iterator[_Frame]:
        """The spooled frames, joined until each holds SPOOL_BATCH records or more."""
        rows: list[ValidRow] = []
        letters: list[RejectedRow] = []
        for frame in self.spool.read():
            more_rows, more_letters = _DECODER.decode(frame)
            rows += more_rows
            letters += more_letters
            if len(rows) + len(letters) >= SPOOL_BATCH:
                yield rows, letters
                rows, letters = [], []
        if rows or letters:
            yield rows, letters

    @staticmethod
    def verdict(parser: CsvFileParser, declared: Sequence[Declared] = ()) -> tuple[Verdict, str]:
        """Every control of the file's dataset (and sender) against what the parser tallied and the totals declared
        beside the file (its manifest); the content's hash."""
        tally = parser.tally
        if tally is None:
            msg = "a file without controls has no verdict"
            raise RuntimeError(msg)
        facts = tally.facts(parser.rows_read, parser.rows_rejected)
        found = evaluate(tally.controls, facts, [*([tally.trailer] if tally.trailer is not None else []), *declared])
        return Verdict((*tally.findings(), *found.findings)), tally.sha256

    @staticmethod
    async def judged(parser: CsvFileParser, j: Judging) -> tuple[Verdict, str]:
        """The file's verdict, taken once per version before anything of it is published: a version judged before
        (passed, or released) passes again if its content hashes the same. Otherwise its controls (with its manifest,
        if its dataset declares one: AwaitingManifest while a required one has not come in time), the sender holds
        that cover it and, if its dataset says so, a file loaded before with the same content; the ledger records
        the hash of a file that passes (`j.judge`: FileLedger.judge under the split's fence)."""
        claim, tally = j.claim, parser.tally
        if claim.judged is not None:
            sha256 = Evaluation.verdict(parser)[1]
            if sha256 == claim.judged:
                return Verdict(), sha256
            changed = Finding("content", "hold", f"SHA-256 {claim.judged}, as judged before", f"SHA-256 {sha256}")
            return Verdict((changed,)), sha256
        dataset = parser.dataset
        if dataset is None or tally is None:
            msg = "a file is judged once its header is read"
            raise RuntimeError(msg)
        declared, missing, absent = await _manifest(tally, j)
        verdict, sha256 = Evaluation.verdict(parser, declared)
        if absent and claim.waited < j.manifest_wait:
            raise AwaitingManifest(sha256)
        controls = tally.controls
        holds = [h for h in claim.holds if h.covers(j.key, dataset.name)]
        found = (*verdict.findings, *([missing] if missing else []), *(held(h) for h in holds))
        warnings = tuple(dataclasses.asdict(f) for f in found if f.action == "warn")
        passes = not Verdict(found).held
        judgement = Judgement(
            dataset=dataset.name, sha256=sha256, duplicates=controls.duplicates, passes=passes, warnings=warnings
        )
        first = await j.judge(judgement)
        return Verdict((*found, duplicate(first)) if first is not None else found), sha256

    def records(self, *, rows_only: bool = False) -> Iterator[list[Parsed]]:
        """Every record (or only the valid rows), in line order, SPOOL_BATCH or more at a time."""
        for rows, letters in self._frames():
            if rows_only or not letters:
                yield list(rows)
            else:
                yield sorted([*rows, *letters], key=_LINE)

    def rejected(self) -> Iterator[list[RejectedRow]]:
        """The rejected rows only, in line order."""
        for _, letters in self._frames():
            if letters:
                yield letters

    def close(self) -> None:
        self.spool.close()
