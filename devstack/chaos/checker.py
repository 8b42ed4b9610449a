"""The checker: PostgreSQL's tables and ledger, the topics read from the beginning and the drained SQS DLQ against
the expected outcome of every uploaded file version. Every violation names the file, version and line."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from devstack.chaos.generator import COMPLETED, DECLINED, FAILED, NATURAL_KEY, PARTIAL, SUPERSEDED
from devstack.chaos.nemesis import Injected
from devstack.chaos.traffic import Upload

LOADED = frozenset({COMPLETED, PARTIAL})
LISTED = 20  # violations of one kind listed per file version; the rest are counted


class _Provenance(msgspec.Struct):
    key: str
    version: str
    line: int


class RowEvent(msgspec.Struct):
    provenance: _Provenance


class Letter(msgspec.Struct):
    stage: str
    key: str | None = None
    version: str | None = None
    line: int | None = None
    error_class: str | None = None


ROW_EVENT = msgspec.json.Decoder(RowEvent)
LETTER = msgspec.json.Decoder(Letter)
Version = tuple[str, str]  # (S3 key, version = ETag)


@dataclass
class Observed:
    """Everything the checker reads after the run."""

    ledger: dict[Version, dict[str, Any]]
    rejects: dict[Version, set[int]]
    tables: dict[str, dict[str, tuple[str, str, int]]]  # dataset -> natural key -> (src_key, src_version, src_line)
    row_events: dict[Version, Counter[int]]  # lines on the row topics, with how often
    letters: dict[Version, Counter[tuple[int | None, str]]]  # (line, stage) on the dead-letter topic
    letter_classes: dict[Version, set[str]]
    dlq: dict[Version, Counter[tuple[int | None, str]]]  # the same, from the SQS DLQ
    dlq_other: list[str]  # SQS DLQ messages that are not dead letters of our files


@dataclass
class Result:
    violations: list[dict[str, Any]] = field(default_factory=list)
    rows_checked: int = 0
    files_checked: int = 0
    versions_checked: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    duplicate_dead_letters: int = 0

    def add(
        self,
        file: str,
        version: str | None,
        line: int | None,
        check: str,
        want: object,
        got: object,
        faults: Iterable[int] = (),
    ) -> None:
        self.violations.append(
            {
                "file": file,
                "version": version,
                "line": line,
                "check": check,
                "expected": want,
                "found": got,
                "faults": sorted(faults),
            }
        )


def check(uploads: list[Upload], seen: Observed, faults: list[Injected], window: int, run_end: float) -> Result:
    result = Result()
    by_version: dict[Version, list[Upload]] = defaultdict(list)
    for u in uploads:
        by_version[(u.key, u.etag)].append(u)
    result.files_checked = len({u.key for u in uploads})
    result.versions_checked = len(by_version)
    for version, ups in by_version.items():
        spec = ups[0].file.versions[ups[0].version_index]
        row = seen.ledger.get(version)
        first = min(u.at for u in ups)
        last = row["finished_at"].timestamp() if row and row.get("finished_at") else run_end
        hits = [f.fault.index for f in faults if f.start <= last and f.end + (f.recovery or 0.0) >= first]
        _ledger(result, version, spec, row, seen, hits, len(ups))
        status = str(row["status"]) if row else None
        _topics(result, version, spec, status, seen, hits, window)
    _tables(result, uploads, seen)
    for body in seen.dlq_other:
        result.add("-", None, None, "SQS DLQ holds a message that is not a dead letter of a run file", None, body)
    return result


def _ledger(
    result: Result, v: Version, spec: Any, row: dict[str, Any] | None, seen: Observed, hits: list[int], uploads: int
) -> None:
    key, version = v
    if row is None:
        result.add(key, version, None, "file version missing from the ledger", sorted(spec.statuses), None, hits)
        return
    status = str(row["status"])
    result.statuses[status] += 1
    if status not in spec.statuses:
        result.add(key, version, None, "final status", sorted(spec.statuses), status, hits)
        return
    if uploads > 1 and int(row["duplicate_events"]) < uploads - 1:
        result.add(key, version, None, "duplicate notifications counted", uploads - 1, row["duplicate_events"], hits)
    if status == FAILED and spec.error_class not in seen.letter_classes.get(v, set()):
        result.add(
            key,
            version,
            None,
            "FAILED dead letter's error class",
            spec.error_class,
            sorted(seen.letter_classes.get(v, set())),
            hits,
        )
    if status == DECLINED and int(row["rows_loaded"]) != 0:
        result.add(key, version, None, "ledger rows_loaded of a declined file", 0, row["rows_loaded"], hits)
    if status not in LOADED:
        return
    counts = {"rows_read": spec.rows, "rows_loaded": spec.valid, "rows_dead_lettered": len(spec.rejected)}
    for column, want in counts.items():
        if int(row[column]) != want:
            result.add(key, version, None, f"ledger {column}", want, row[column], hits)
    got = seen.rejects.get(v, set())
    for line in sorted(spec.rejected - got)[:LISTED]:
        result.add(key, version, line, "rejected line missing from ingest_file_rejects", "rejected", None, hits)
    for line in sorted(got - spec.rejected)[:LISTED]:
        result.add(key, version, line, "line rejected that is valid", "loaded", "rejected", hits)


def _topics(
    result: Result, v: Version, spec: Any, status: str | None, seen: Observed, hits: list[int], window: int
) -> None:
    key, version = v
    events = seen.row_events.get(v, Counter())
    bound = spec.valid + window * len(hits)
    if sum(events.values()) > bound:
        result.add(
            key,
            version,
            None,
            "row events on the topic <= valid rows + one produce window per fault",
            bound,
            sum(events.values()),
            hits,
        )
    if status in LOADED:
        missing = sorted({line for _, line in spec.keys} - set(events))
        for line in missing[:LISTED]:
            result.add(key, version, line, "valid row never on its topic", "a row event", None, hits)
    # A loaded or declined file's rejected lines (a held file's went out once, when it was held); a failed file's one.
    want: set[tuple[int | None, str]] = (
        {(line, "split") for line in spec.rejected} if status in (*LOADED, DECLINED) else {(None, "split")}
    )
    if status is None:
        return
    letters = seen.letters.get(v, Counter())
    result.duplicate_dead_letters += sum(letters.values()) - len(letters)
    for line, stage in sorted(want - set(letters), key=_order)[:LISTED]:
        result.add(key, version, line, f"dead letter ({stage}) missing from the topic", "present", None, hits)
    for line, stage in sorted(set(letters) - want, key=_order)[:LISTED]:
        result.add(key, version, line, f"dead letter ({stage}) not expected", None, letters[(line, stage)], hits)
    sqs = seen.dlq.get(v, Counter())
    for line, stage in sorted(want - set(sqs), key=_order)[:LISTED]:
        result.add(key, version, line, f"dead letter ({stage}) missing from the SQS DLQ", "present", None, hits)


def _order(item: tuple[int | None, str]) -> tuple[int, str]:
    return (item[0] or 0, item[1])


def _tables(result: Result, uploads: list[Upload], seen: Observed) -> None:
    """The newest loaded version of each natural key wins; no row is lost, none is there that should not be."""
    want: dict[str, dict[str, tuple[str, str, int]]] = defaultdict(dict)
    for u in uploads:  # in upload order: a later version of a key overrides an earlier one
        spec = u.file.versions[u.version_index]
        row = seen.ledger.get((u.key, u.etag))
        if spec.dataset is None or row is None or row["status"] not in LOADED:
            continue
        for natural, line in spec.keys:
            want[spec.dataset][natural] = (u.key, u.etag, line)
    for dataset in NATURAL_KEY:
        expected, found = want.get(dataset, {}), seen.tables.get(dataset, {})
        result.rows_checked += len(expected)
        for natural, (key, version, line) in expected.items():
            got = found.get(natural)
            if got is None:
                result.add(key, version, line, f"row lost ({dataset} {natural})", "stored", None)
            elif got != (key, version, line):
                what = "wrong version won" if got[1] != version else "wrong source line"
                result.add(key, version, line, f"{what} ({dataset} {natural})", [key, version, line], list(got))
        for natural in sorted(set(found) - set(expected))[: LISTED * 5]:
            key, version, line = found[natural]
            result.add(key, version, line, f"row not expected ({dataset} {natural})", None, "stored")
    for status in (SUPERSEDED, DECLINED):
        result.statuses.setdefault(status, 0)
