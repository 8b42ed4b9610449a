"""The file ledger's vocabulary (pure): statuses, what the fan-out counted, where a row came from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, NamedTuple

import msgspec

from streamproc.contract.events import FieldError
from streamproc.shared.errors import StreamprocError

RECEIVED: Final = "RECEIVED"
PROCESSING: Final = "PROCESSING"
COMPLETED: Final = "COMPLETED"
PARTIAL: Final = "PARTIAL"
FAILED: Final = "FAILED"
SUPERSEDED: Final = "SUPERSEDED"  # the key was overwritten before its bytes were read: that version is gone
HELD: Final = "HELD"  # failed a control (streamproc.datasets.controls): no row published until an operator decides
AWAITING_MANIFEST: Final = "AWAITING_MANIFEST"  # its dataset requires a manifest that has not come yet
RELEASING: Final = "RELEASING"  # an operator released the HELD file; its worker has yet to take it up
DECLINED: Final = "DECLINED"  # an operator declined the HELD file: none of its rows is ever published


class StatusDoc(NamedTuple):
    """One file status as the README's table describes it (`tests/repo` keeps the two equal)."""

    status: str
    means: str
    final: bool  # no more work happens on it by itself
    reprocess: bool  # `python -m streamproc reprocess` applies
    stalled: bool  # the stall check watches it
    decide: bool = False  # `release` and `decline` apply


STATUS_DOCS: Final = (
    StatusDoc(RECEIVED, "notified; no split has started", final=False, reprocess=False, stalled=True),
    StatusDoc(PROCESSING, "being split, or its rows are being loaded", final=False, reprocess=False, stalled=True),
    StatusDoc(
        AWAITING_MANIFEST,
        "read and evaluated, but its dataset requires a manifest (`<key>.manifest.json`) that has not come: nothing "
        "published; the manifest's arrival takes it up again, and after `STREAMPROC_MANIFEST_WAIT_SECONDS` it is "
        "HELD (manifest missing)",
        final=False,
        reprocess=False,
        stalled=False,
    ),
    StatusDoc(
        HELD,
        "failed a control its dataset declares, or its sender is held: no row published, its dead letters were; "
        "the failed controls with expected and actual values in `controls`",
        final=False,
        reprocess=False,
        stalled=False,
        decide=True,
    ),
    StatusDoc(
        RELEASING,
        "released by an operator (the decision in `decision`); its worker publishes it and it ends COMPLETED or "
        "PARTIAL; `reprocess` re-emits its event if the release command could not",
        final=False,
        reprocess=True,
        stalled=True,
    ),
    StatusDoc(COMPLETED, "every row loaded", final=True, reprocess=True, stalled=False),
    StatusDoc(
        PARTIAL, "every row loaded or dead-lettered, some dead-lettered", final=True, reprocess=True, stalled=False
    ),
    StatusDoc(
        FAILED,
        "the whole file refused (the reason says why); nothing more of it loads",
        final=True,
        reprocess=True,
        stalled=False,
    ),
    StatusDoc(
        SUPERSEDED,
        "the key was overwritten before this version's bytes were read; the newer version loads the key",
        final=True,
        reprocess=False,
        stalled=False,
    ),
    StatusDoc(
        DECLINED,
        "declined by an operator while HELD (the decision in `decision`): none of its rows is published",
        final=True,
        reprocess=False,
        stalled=False,
    ),
)
# In the order the stats page, metrics and CLI list them (the table's order).
STATUSES: Final = tuple(d.status for d in STATUS_DOCS)
FINAL: Final = tuple(d.status for d in STATUS_DOCS if d.final)
WATCHED: Final = tuple(d.status for d in STATUS_DOCS if d.stalled)  # what the stall check looks at


def status_table() -> str:
    """The README's table of file statuses."""
    yes = {True: "yes", False: "no"}
    lines = ["| status | means | final | reprocess | release, decline | stall check |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {d.status} | {d.means} | {yes[d.final]} | {yes[d.reprocess]} | {yes[d.decide]} | {yes[d.stalled]} |"
        for d in STATUS_DOCS
    ]
    return "\n".join(lines)


@dataclass(frozen=True, kw_only=True)
class SplitCounts:
    """What the fan-out stage saw in one file."""

    dataset: str | None
    rows_read: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    unknown_columns: int = 0


@dataclass(frozen=True, kw_only=True)
class Held:
    """Why a file is HELD, for the ledger: the reason in words, each failed control with what it expected and
    what the file holds (counts and totals, never a row's value), and the SHA-256 of its content."""

    reason: str
    findings: tuple[dict[str, str], ...]
    sha256: str


@dataclass(frozen=True, kw_only=True)
class Judgement:
    """A file's content as its verdict found it, for the ledger (`FileLedger.judge`): its dataset and SHA-256,
    whether to look for a file loaded before with the same content, whether it passes, and its warnings."""

    dataset: str
    sha256: str
    duplicates: bool
    passes: bool
    warnings: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class RowRef:
    """Where one row came from (enough to find its file in the ledger), and why the database refused it."""

    bucket: str
    key: str
    version: str
    line: int
    partition: int = 0  # the Kafka partition the row event was read from
    error_class: str = "RejectedByDatabase"
    errors: tuple[FieldError, ...] = ()


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """Where an interrupted split goes on: every line up to `line` was emitted and acknowledged, and any
    later record of the file is at or after `offsets` (topic -> partition -> offset) on its topic."""

    line: int = 0
    offsets: dict[str, dict[int, int]] = msgspec.field(default_factory=dict)


class Fence(NamedTuple):
    """Who may write a split's ledger row: the file and its claim's epoch. Every claim bumps the epoch, and every
    ledger write of a split names it, so a worker whose claim was taken over (paused past its lease) writes
    nothing more: its write raises ClaimLost."""

    file_id: int
    epoch: int


class ClaimLost(StreamprocError):
    """Another worker holds this file's claim now (a newer epoch): stop the split, write nothing more."""


@dataclass(frozen=True, kw_only=True)
class Claim:
    """The ledger's answer to an object event: split it (as attempt N, resuming where a checkpoint says),
    skip it (a duplicate, and why), or wait (another live worker is splitting it right now)."""

    file_id: int
    attempt: int
    skipped: str | None = None  # e.g. "already COMPLETED": a duplicate notification, recorded and not run
    wait: float = 0.0  # seconds to wait before asking again (another worker holds a live claim)
    resume: Checkpoint | None = None
    epoch: int = 0  # the fencing epoch this claim holds (see Fence)
    # The SHA-256 this version's content had when it passed its verdict or was released: it is published without
    # another verdict once its content hashes the same (a verdict is taken once per version, before anything of
    # it is published, so a resumed or reprocessed pass is never held half-published).
    judged: str | None = None
    letters_out: bool = False  # its dead letters went out when it was held: a release publishes its rows only
    holds: tuple[SenderHold, ...] = ()  # the sender holds in force that match the key (see `SenderHold.covers`)
    waited: float = 0.0  # seconds since the version was notified (how long a required manifest has been awaited)

    @property
    def fence(self) -> Fence:
        return Fence(self.file_id, self.epoch)


@dataclass(frozen=True, kw_only=True)
class SenderHold:
    """An operator's hold on every new file of a sender (a key prefix) or of a dataset, until it is lifted."""

    hold_id: int
    prefix: str | None
    dataset: str | None
    reason: str
    by: str
    at: datetime

    def covers(self, key: str, dataset: str | None) -> bool:
        by_prefix = self.prefix is None or key.startswith(self.prefix)
        return by_prefix and (self.dataset is None or self.dataset == dataset)

    @property
    def what(self) -> str:
        parts = [f"prefix {self.prefix}" if self.prefix else "", f"dataset {self.dataset}" if self.dataset else ""]
        return " and ".join(p for p in parts if p)


def claim_verdict(status: str, split_done: bool, *, forced: bool) -> str | None:
    """Why an event for a version in this state is a duplicate to skip; None when it is to be processed.

    A finished version, or one whose split is done and whose rows the sinks are still loading, is
    processed once: another notification for it is recorded and skipped, as is one for a HELD version (a
    replay or a duplicate never publishes a held file's rows); a RELEASING one is taken up. A split left half-done is
    taken over once its claim lapses (see LedgerStore.claim). `forced` (the reprocess command) always runs.
    """
    if forced:
        return None
    if status in FINAL:
        return f"already {status}"
    if status == HELD:
        return "HELD: it awaits an operator's decision"
    if status == PROCESSING and split_done:
        return "already split; its rows are being loaded"
    return None


@dataclass(frozen=True, kw_only=True)
class Reject:
    """Why one row was dead-lettered, for the ledger: where and which rules, never the values."""

    line: int
    stage: str  # "split" or "sink"
    error_class: str
    errors: tuple[FieldError, ...] = ()


MAX_REJECTS_PER_FILE: Final = 10_000  # reasons kept per file for the stats page; the counts stay exact


# -- what a sink batch loads, and how its lines are counted (once per file version) --------------------------

Version = tuple[str, str, str]  # bucket, key, version: one file version


@dataclass(frozen=True, kw_only=True)
class LoadBatch:
    """What one sink transaction writes: the rows to upsert (one per natural key) and, per file version and
    Kafka partition, the lines the batch carries in offset order (every line counts, superseded ones too)."""

    topic: str
    rows: list[tuple[object, ...]]
    lines: dict[Version, dict[int, list[int]]]


def count_fresh(lines: list[int], high: int) -> tuple[int, int]:
    """The lines (one file, one partition, in offset order) above the running high-water mark, and the new mark.

    The fan-out emits a file's lines in increasing order, and a key always lands on the same partition, so a
    partition carries each production pass of a file as an increasing run. A resumed pass starts at or below
    what was already acknowledged, and a forced or replayed one starts at line 2: a line at or below the
    mark was counted before. So each line of a file version is counted once, however often it is produced.
    """
    fresh = 0
    for line in lines:
        if line > high:
            fresh += 1
            high = line
    return fresh, high
