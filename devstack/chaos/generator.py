"""The files the chaos run uploads, each with its exact expected outcome (pure and seeded).

Kinds: valid (COMPLETED), partial (PARTIAL, exactly the lines broken on purpose rejected), gzip (.csv.gz, either),
overwritten (a second version of the key uploaded soon after the first: the first ends COMPLETED when it was read
before the overwrite or SUPERSEDED when its bytes were gone, and the second's rows win), duplicate (the same bytes
uploaded twice: two notifications, one split), hostile (FAILED with a known error class) and held (over the seed's
error budget: HELD, then released, ending PARTIAL with exactly its valid rows, or declined, ending DECLINED with none;
its dead letters published once, when it was held) and copy (the same bytes under a second key once the first is
final: HELD as a duplicate, then declined)."""

from __future__ import annotations

import csv
import gzip
import io
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from streamproc.datasets import samples

COMPLETED, PARTIAL, FAILED, SUPERSEDED, DECLINED = "COMPLETED", "PARTIAL", "FAILED", "SUPERSEDED", "DECLINED"
CLAIMS, AUDITS = "pharmacy_claims", "audit_records"
NATURAL_KEY = {CLAIMS: "claim_id", AUDITS: "audit_id"}
KIND_WEIGHTS = {
    "valid": 30,
    "partial": 25,
    "gzip": 15,
    "overwritten": 12,
    "duplicate": 10,
    "hostile": 8,
    "held": 6,
    "copy": 4,
}
ROWS = (20, 3000)  # rows per file, log-uniform
PARTIAL_BAD_SHARE = 0.02
GZIP_BAD_SHARE = 0.005
HELD_BAD_SHARE = 0.7  # over the seed datasets' error budget (more than half of the rows rejected)
# At most this many rows per held file: its dead letters go to moto's SQS DLQ, where each costs O(queue depth).
HELD_ROWS = 80
# Hostile bodies and the error class their FAILED dead letter names (as tests/data/corpus/manifest.toml).
_CLAIM_HEADER = ",".join(samples.CLAIM_HEADER)
HOSTILE: dict[str, tuple[str, bytes, str]] = {
    "empty": ("pharmacy_claims/{name}.csv", b"", "EmptyObject"),
    "semicolons": ("pharmacy_claims/{name}.csv", _CLAIM_HEADER.replace(",", ";").encode() + b"\r\n", "MissingColumns"),
    "repeated-column": ("pharmacy_claims/{name}.csv", (_CLAIM_HEADER + ",ndc\r\n").encode(), "BadHeader"),
    "binary": ("pharmacy_claims/{name}.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00\x01", "BadHeader"),
    "unknown-dataset": ("misc/{name}.csv", b"colour,hex\r\nred,#f00\r\n", "UnknownDataset"),
    "not-gzip": ("pharmacy_claims/{name}.csv.gz", b"claim_id\r\nnot gzip at all\r\n", "BadGzip"),
}


@dataclass(frozen=True)
class Version:
    """One version (one set of bytes) of a key, and what a correct pipeline makes of it."""

    body: bytes
    dataset: str | None
    rows: int  # data rows: lines 2 .. rows + 1
    rejected: frozenset[int]  # lines rejected by validation
    keys: tuple[tuple[str, int], ...]  # (natural key, line) of every valid row
    statuses: frozenset[str]  # the final statuses a correct run may end with
    error_class: str | None = None  # FAILED: the error class of its dead letter
    decision: str | None = None  # "release" or "decline", taken once the ledger shows it HELD

    @property
    def valid(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class PlannedFile:
    index: int
    kind: str
    key: str
    versions: tuple[Version, ...]
    uploads: tuple[int, ...]  # which version each upload puts, in order (duplicate: (0, 0))
    delay: float  # seconds between the uploads of a file uploaded more than once
    copy_key: str | None = None  # copy: where the second upload puts the same bytes, once the first is final


def plan(seed: int) -> Iterator[PlannedFile]:
    """The endless, seeded stream of files; the run takes them until its time is up."""
    rng = random.Random(f"chaos-files-{seed}")
    kinds = sorted(KIND_WEIGHTS)
    index = 0
    while True:
        kind = rng.choices(kinds, [KIND_WEIGHTS[k] for k in kinds])[0]
        yield make(kind, index, rng)
        index += 1


def make(kind: str, index: int, rng: random.Random) -> PlannedFile:
    name = f"chaos-{index:06d}"
    if kind == "hostile":
        which = rng.choice(sorted(HOSTILE))
        template, body, error_class = HOSTILE[which]
        failed = Version(body, None, 0, frozenset(), (), frozenset({FAILED}), error_class)
        return PlannedFile(index, f"{kind}:{which}", template.format(name=name), (failed,), (0,), 0.0)
    dataset = CLAIMS if kind == "overwritten" or rng.random() < 0.7 else AUDITS
    rows = round(math.exp(rng.uniform(math.log(ROWS[0]), math.log(ROWS[1]))))
    prefix = f"{'K' if dataset == CLAIMS else 'A'}{index:06d}"
    key = f"{dataset}/{name}.csv"
    seed = rng.randrange(1 << 30)
    if kind == "overwritten":
        first = version(dataset, rows, 0.0, seed, prefix, frozenset({COMPLETED, SUPERSEDED}))
        second = version(dataset, rows + rng.randrange(0, 50), 0.0, seed + 1, prefix, frozenset({COMPLETED}))
        return PlannedFile(index, kind, key, (first, second), (0, 1), round(rng.uniform(0.0, 3.0), 3))
    if kind == "held":
        decision = rng.choice(("release", "decline"))
        rows = min(max(rows, 10), HELD_ROWS)
        held = version(dataset, rows, HELD_BAD_SHARE, seed, prefix, frozenset())
        while not 0.5 < len(held.rejected) / held.rows < 1.0:  # over the budget, with a row to load when released
            seed += 1
            held = version(dataset, rows, HELD_BAD_SHARE, seed, prefix, frozenset())
        statuses = frozenset({PARTIAL if decision == "release" else DECLINED})
        return PlannedFile(index, kind, key, (_with(held, held.body, statuses, decision),), (0,), 0.0)
    bad = {"partial": PARTIAL_BAD_SHARE, "gzip": GZIP_BAD_SHARE}.get(kind, 0.0)
    plain = version(dataset, rows, bad, seed, prefix, frozenset())
    while kind == "partial" and not plain.rejected:  # a partly bad file has at least one bad line
        seed += 1
        plain = version(dataset, rows, bad, seed, prefix, frozenset())
    statuses = frozenset({PARTIAL if plain.rejected else COMPLETED})
    if kind == "gzip":
        body = gzip.compress(plain.body, mtime=0)
        return PlannedFile(index, kind, key + ".gz", (_with(plain, body, statuses),), (0,), 0.0)
    if kind == "copy":  # the same bytes under a second key: HELD as a duplicate of the first, then declined
        copy = _with(plain, plain.body, frozenset({DECLINED}), "decline")
        original = _with(plain, plain.body, statuses)
        return PlannedFile(index, kind, key, (original, copy), (0, 1), 0.0, copy_key=f"{dataset}/{name}-copy.csv")
    uploads = (0, 0) if kind == "duplicate" else (0,)
    delay = round(rng.uniform(0.5, 4.0), 3)
    return PlannedFile(index, kind, key, (_with(plain, plain.body, statuses),), uploads, delay)


def version(dataset: str, rows: int, bad_share: float, seed: int, prefix: str, statuses: frozenset[str]) -> Version:
    """A CSV of `rows` sample rows; the rows broken on purpose are the ones the pipeline must reject."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(samples.header(dataset))
    rejected: set[int] = set()
    keys: list[tuple[str, int]] = []
    for line, (row, broken) in enumerate(samples.marked_rows(dataset, rows, bad_share, seed, prefix), 2):
        writer.writerow(row)
        if broken:
            rejected.add(line)
        else:
            keys.append((row[0], line))
    return Version(out.getvalue().encode(), dataset, rows, frozenset(rejected), tuple(keys), statuses)


def _with(v: Version, body: bytes, statuses: frozenset[str], decision: str | None = None) -> Version:
    return Version(body, v.dataset, v.rows, v.rejected, v.keys, statuses, v.error_class, decision)
