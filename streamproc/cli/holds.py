"""`hold`, `unhold` and `holds`: keep every new file of a sender (a key prefix) or of a dataset HELD until lifted.

A hold applies to each file a worker judges while it is in force (a file already published, or judged before, is
not held again); its files are HELD with the hold's reason and wait for `release` or `decline` like any held file.
"""

from __future__ import annotations

import click
import faust
from faust.cli import option

from streamproc.adapters.decisions import Decisions
from streamproc.cli import views
from streamproc.cli.base import OperatorCommand
from streamproc.cli.decide import operator
from streamproc.cli.errors import BadUsage, NotFound, Refused
from streamproc.datasets.registry import Registry
from streamproc.worker.settings import WorkerSettings


def _which(prefix: str | None, dataset: str | None) -> str:
    if not prefix and not dataset:
        msg = "say whose files: --prefix P (a sender's key prefix), --dataset D, or both"
        raise BadUsage(msg)
    return " and ".join(p for p in (f"prefix {prefix}" if prefix else "", f"dataset {dataset}" if dataset else "") if p)


def register(app: faust.App, settings: WorkerSettings, registry: Registry) -> None:
    datasets = click.Choice([d.name for d in registry])
    prefix_option = option("--prefix", help="a sender's key prefix, e.g. pharmacy_claims/acme/")
    dataset_option = option("--dataset", type=datasets, help="every file of this dataset")

    @app.command(prefix_option, dataset_option, option("--reason", required=True, help="why"), base=OperatorCommand)
    async def hold(self: OperatorCommand, prefix: str | None, dataset: str | None, reason: str) -> None:
        """Hold every new file under --prefix (and/or of --dataset) until `unhold`: each ends HELD with REASON."""
        which = _which(prefix, dataset)
        async with Decisions(settings.database_url) as decisions:
            made = await decisions.hold(prefix or None, dataset, reason, operator(settings))
        if made is None:
            msg = f"a hold on {which} is already in force (`holds` lists them)"
            raise Refused(msg)
        lift = " ".join(f"--{name} {value}" for name, value in (("prefix", prefix), ("dataset", dataset)) if value)
        self.out(f"holding new files of {which} (hold {made}, by {operator(settings)}): HELD until `unhold {lift}`")

    @app.command(prefix_option, dataset_option, base=OperatorCommand)
    async def unhold(self: OperatorCommand, prefix: str | None, dataset: str | None) -> None:
        """Lift the hold on exactly this --prefix and --dataset. Files it held stay HELD: release or decline each."""
        which = _which(prefix, dataset)
        async with Decisions(settings.database_url) as decisions:
            lifted = await decisions.lift(prefix or None, dataset, operator(settings))
        if not lifted:
            msg = f"no hold on {which} is in force (`holds` lists them)"
            raise NotFound(msg)
        self.out(f"lifted the hold on {which}; files it held stay HELD: `status --status HELD` lists them")

    @app.command(base=OperatorCommand)
    async def holds(self: OperatorCommand) -> None:
        """The sender holds in force, oldest first."""
        async with Decisions(settings.database_url) as decisions:
            rows = await decisions.holds()
        body = [(r["id"], r["prefix"] or "-", r["dataset"] or "-", r["held_by"], views.when(r["held_at"]), r["reason"])
                for r in rows]  # fmt: skip
        for line in views.table(("HOLD", "PREFIX", "DATASET", "BY", "SINCE", "REASON"), body, numeric={0}):
            self.out(line)
        self.out(f"{len(rows)} hold(s) in force")
