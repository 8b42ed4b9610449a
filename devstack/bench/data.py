"""Benchmark data: CSV files generated to disk in a stream, what PostgreSQL must hold afterwards, and uploads."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioboto3
from boto3.s3.transfer import TransferConfig
from psycopg import sql

from streamproc.datasets import samples

_MULTIPART = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=16 << 20)


@dataclass(frozen=True, kw_only=True)
class BenchFile:
    """One generated file and the S3 key it is uploaded as."""

    key: str
    path: Path
    dataset: str
    rows: int

    @property
    def size(self) -> int:
        return self.path.stat().st_size


@dataclass(frozen=True, kw_only=True)
class Expected:
    """What a dataset's table holds after a correct load: how many rows, and a checksum of (key, file, line)."""

    table: str
    natural_key: str
    rows: int
    checksum: str


def generate(folder: Path, *, total_rows: int, files: int, claims_share: float, bad_share: float) -> list[BenchFile]:
    """`files` files of about `total_rows / files` rows (claims, then audits), each written row by row."""
    folder.mkdir(parents=True, exist_ok=True)
    per_file = max(1, total_rows // files)
    claim_files = max(1, round(files * claims_share)) if files > 1 else 1
    made = []
    for n in range(files):
        dataset = "pharmacy_claims" if n < claim_files else "audit_records"
        key = f"{dataset}/bench-{n:02d}.csv"
        path = folder / key.replace("/", "__")
        _write(path, dataset, per_file, bad_share, seed=100 + n, prefix=f"B{n:02d}")
        made.append(BenchFile(key=key, path=path, dataset=dataset, rows=per_file))
    return made


def _write(path: Path, dataset: str, count: int, bad_share: float, *, seed: int, prefix: str) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(samples.header(dataset))
        writer.writerows(samples.rows(dataset, count, bad_share, seed=seed, prefix=prefix))


def expected(files: list[BenchFile], *, bad_share: float) -> dict[str, Expected]:
    """Per table: the rows a correct load holds (every row not broken on purpose) and their checksum."""
    keys: dict[str, list[str]] = {"pharmacy_claims": [], "audit_records": []}
    for f in files:
        prefix, seed = f"B{int(f.key[-6:-4]):02d}", 100 + int(f.key[-6:-4])
        for line, (row, broken) in enumerate(samples.marked_rows(f.dataset, f.rows, bad_share, seed, prefix), 2):
            if not broken:
                keys[f.dataset].append(f"{row[0]}:{f.key}:{line}")
    return {
        dataset: Expected(
            table=dataset,
            natural_key="claim_id" if dataset == "pharmacy_claims" else "audit_id",
            rows=len(found),
            checksum=hashlib.md5(",".join(sorted(found)).encode(), usedforsecurity=False).hexdigest(),
        )
        for dataset, found in keys.items()
    }


LATENCY_PREFIX = "pharmacy_claims/latency-"  # the latency probe's 10-row files: not part of the bulk's rows


def checksum_query(want: Expected) -> sql.Composed:
    """The same count and checksum, computed by PostgreSQL over the table's stored rows (the bulk's only)."""
    return sql.SQL(
        "SELECT count(*) AS n, coalesce(md5(string_agg({key} || ':' || src_key || ':' || src_line, ',' "
        "ORDER BY ({key} || ':' || src_key || ':' || src_line) COLLATE \"C\")), md5('')) AS sum FROM {table} "
        "WHERE NOT starts_with(src_key, {latency})"
    ).format(key=sql.Identifier(want.natural_key), table=sql.Identifier(want.table), latency=LATENCY_PREFIX)


def mismatches(found: dict[str, dict[str, Any]], want: dict[str, Expected]) -> list[str]:
    """What differs between the tables' (count, checksum) and the expected ones; [] when every row is right."""
    problems = []
    for dataset, expect in want.items():
        got = found.get(dataset, {"n": 0, "sum": ""})
        if (got["n"], got["sum"]) != (expect.rows, expect.checksum):
            same = "the same" if got["sum"] == expect.checksum else "a different"
            problems.append(f"{dataset}: {got['n']} rows (want {expect.rows}), {same} checksum")
    return problems


async def upload(client_kwargs: dict[str, Any], bucket: str, files: list[BenchFile], key_prefix: str = "") -> None:
    """Upload every file (multipart above 64 MiB), one after another as a client script would."""
    session = aioboto3.Session()
    async with session.client("s3", **client_kwargs) as s3:
        for f in files:
            await s3.upload_file(str(f.path), bucket, key_prefix + f.key, Config=_MULTIPART)
