"""The file ledger's vocabulary (pure): statuses, what the fan-out counted, where a row came from."""

from __future__ import annotations

from dataclasses import dataclass
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
FINAL: Final = (COMPLETED, PARTIAL, FAILED, SUPERSEDED)
STATUSES: Final = (RECEIVED, PROCESSING, HELD, *FINAL)  # in the order the stats page, metrics and CLI list them


class StatusDoc(NamedTuple):
    """One file status as the README's table describes it (`tests/repo` keeps the two equal)."""

    status: str
    means: str
    final: bool  # no more work happens on it by itself
    reprocess: bool  # `python -m streamproc reprocess` applies
    stalled: bool  # the stall check watches it


STATUS_DOCS: Final = (
    StatusDoc(RECEIVED, "notified; no split has started", final=False, reprocess=False, stalled=True),
    StatusDoc(PROCESSING, "being split, or its rows are being loaded", final=False, reprocess=False, stalled=True),
    StatusDoc(
        HELD,
        "failed a control its dataset declares: no row published, its dead letters were; the failed controls "
        "with expected and actual values in `controls`",
        final=False,
        reprocess=False,
        stalled=False,
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
)


def status_table() -> str:
    """The README's table of file statuses."""
    yes = {True: "yes", False: "no"}
    lines = ["| status | means | final | reprocess | stall check |", "|---|---|---|---|---|"]
    lines += [
        f"| {d.status} | {d.means} | {yes[d.final]} | {yes[d.reprocess]} | {yes[d.stalled]} |" for d in STATUS_DOCS
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

    @property
    def fence(self) -> Fence:
        return Fence(self.file_id, self.epoch)


def claim_verdict(status: str, split_done: bool, *, forced: bool) -> str | None:
    """Why an event for a version in this state is a duplicate to skip; None when it is to be processed.

    A finished version, or one whose split is done and whose rows the sinks are still loading, is
    processed once: another notification for it is recorded and skipped, as is one for a HELD version (a
    replay or a duplicate never publishes a held file's rows). A split left half-done is
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
