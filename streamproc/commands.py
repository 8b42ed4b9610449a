"""Operator commands of the Faust app (`python -m streamproc <command>`, `faust -A streamproc.app <command>`)."""

from __future__ import annotations

import asyncio
import gzip
import sys
from pathlib import Path
from typing import Any

import click
import faust
from faust.cli import option

from streamproc import samples

DATASETS = ("pharmacy_claims", "audit_records")


def install(app: faust.App) -> None:
    @app.command(
        option("--dataset", type=click.Choice(DATASETS), default="pharmacy_claims", help="which dataset"),
        option("--rows", type=click.IntRange(min=0), default=1000, help="data rows (default 1000)"),
        option(
            "--bad-share", type=click.FloatRange(0.0, 1.0), default=0.01, help="share of rows breaking a rule (0.01)"
        ),
        option("--seed", type=int, default=7, help="random seed: the same seed gives the same file"),
        option("--out", default="-", help="file to write (.csv or .csv.gz); - for stdout"),
    )
    async def gen(self: Any, dataset: str, rows: int, bad_share: float, seed: int, out: str) -> None:
        """Generate a realistic sample CSV file with a share of rows that break the data contract."""
        body = samples.csv_bytes(dataset, rows, bad_share, seed=seed)
        if out == "-":
            sys.stdout.buffer.write(body)
            return
        data = gzip.compress(body) if out.endswith(".gz") else body
        await asyncio.to_thread(Path(out).write_bytes, data)
        self.say(f"wrote {rows} {dataset} rows to {out} ({len(data):,} bytes)")
