"""`gen`: a realistic sample CSV file with a share of rows that break the data contract."""

from __future__ import annotations

import asyncio
import gzip
import sys
from pathlib import Path

import click
import faust
from faust.cli import option

from streamproc.cli.base import OperatorCommand
from streamproc.datasets import samples
from streamproc.datasets.registry import Registry
from streamproc.worker.settings import WorkerSettings

DATASETS = ("pharmacy_claims", "audit_records")


def register(app: faust.App, settings: WorkerSettings, registry: Registry) -> None:
    del settings, registry  # sample data depends on neither

    @app.command(
        option("--dataset", type=click.Choice(DATASETS), default="pharmacy_claims", help="which dataset"),
        option("--rows", type=click.IntRange(min=0), default=1000, help="data rows"),
        option("--bad-share", type=click.FloatRange(0.0, 1.0), default=0.01, help="share of rows breaking a rule"),
        option("--seed", type=int, default=7, help="random seed: the same seed gives the same file"),
        option("--prefix", default="C", help="first letter of the generated ids (keeps files' keys apart)"),
        option("--out", default="-", help="file to write (.csv or .csv.gz); - for stdout"),
        base=OperatorCommand,
    )
    async def gen(
        self: OperatorCommand, dataset: str, rows: int, bad_share: float, seed: int, prefix: str, out: str
    ) -> None:
        """Generate a realistic sample CSV file with a share of rows that break the data contract."""
        body = samples.csv_bytes(dataset, rows, bad_share, seed=seed, prefix=prefix)
        if out == "-":
            sys.stdout.buffer.write(body)
            return
        data = gzip.compress(body) if out.endswith(".gz") else body
        await asyncio.to_thread(Path(out).write_bytes, data)
        self.say(f"wrote {rows} {dataset} rows to {out} ({len(data):,} bytes)")
