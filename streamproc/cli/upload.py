"""`upload PATH...`: files or folders to the drop-zone bucket, multipart when large, with a progress bar."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import click
import faust
from faust.cli import argument, option

from streamproc.adapters.drop_zone import MIB, DropZone
from streamproc.cli import upload_plan
from streamproc.cli.base import OperatorCommand
from streamproc.cli.errors import BadUsage, NotFound, Refused
from streamproc.cli.upload_plan import Progress, Upload, UploadPlan, human
from streamproc.datasets.registry import Registry
from streamproc.worker.settings import WorkerSettings


@dataclass(frozen=True, kw_only=True)
class UploadArgs:
    paths: tuple[Path, ...]
    prefix: str
    any_file: bool
    part_size: int
    concurrency: int


class Meter:
    """Shows progress: a bar redrawn on a terminal; on anything else, a line per part of a multipart upload."""

    def __init__(self, progress: Progress, stream: IO[str], out: IO[str], part_size: int) -> None:
        self.progress = progress
        self._stream = stream
        self._out = out
        self._tty = stream.isatty()
        self._part_size = part_size
        self._file_bytes = 0
        self._file: Upload | None = None

    def start(self, upload: Upload) -> None:
        self._file, self._file_bytes = upload, 0
        self.progress.current = upload.key
        self._draw()

    def add(self, sent: int) -> None:
        """aioboto3's callback: `sent` more bytes are stored."""
        self.progress.done_bytes += sent
        self._file_bytes += sent
        if self._tty:
            self._draw()
        elif self._file is not None and self._file.size >= self._part_size and self._file_bytes < self._file.size:
            self._stream.write(f"  {self._file.key}: {human(self._file_bytes)} of {human(self._file.size)}\n")

    def done(self, line: str) -> None:
        """A file is stored: its line (on stdout), then the bar again."""
        self.progress.done_files += 1
        if self._tty:
            self._stream.write("\r\x1b[2K")
        click.echo(line, file=self._out)
        self._draw()

    def close(self) -> None:
        if self._tty:
            self._stream.write("\r\x1b[2K")
            self._stream.flush()

    def _draw(self) -> None:
        if self._tty:
            self._stream.write("\r\x1b[2K" + self.progress.bar())
            self._stream.flush()


def register(app: faust.App, settings: WorkerSettings, registry: Registry) -> None:
    del registry  # the pipeline recognises the dataset; upload only puts files in the bucket

    @app.command(
        argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)),
        option(
            "--prefix",
            default="",
            show_default=False,
            help="key prefix, e.g. pharmacy_claims/  [default: the bucket root]",
        ),
        option("--any", "any_file", is_flag=True, help="also files that are not .csv, .csv.gz or .manifest.json"),
        option("--part-size", type=click.IntRange(5, 5120), default=8, help="MiB per part; larger files go multipart"),
        option("--concurrency", type=click.IntRange(1, 32), default=4, help="parts in flight per file"),
        base=OperatorCommand,
    )
    async def upload(self: OperatorCommand, **given: Any) -> None:
        """Upload files, or every file under folders, to the drop-zone bucket (STREAMPROC_BUCKET).

        A file lands at PREFIX + its name; files under a folder at PREFIX + their path in it. Files of
        --part-size MiB or more go up as multipart uploads. Only .csv and .csv.gz files reach the pipeline
        (the bucket notification filters on them): other files named are refused (exit 1), other files
        in folders are skipped, unless --any. Progress goes to stderr: a bar on a terminal, lines otherwise.
        """
        await run(self, settings, UploadArgs(**given))


async def run(cmd: OperatorCommand, settings: WorkerSettings, args: UploadArgs) -> None:
    plan = checked_plan(args)
    for path in plan.skipped:
        cmd.note(f"skipped {path}: {upload_plan.NOT_CSV} (--any uploads it)")
    meter = Meter(Progress(plan.total_bytes, len(plan.files)), cmd.stderr, cmd.stdout, args.part_size * MIB)
    async with DropZone(
        settings.aws, settings.bucket, part_size=args.part_size * MIB, concurrency=args.concurrency
    ) as zone:
        await zone.check_bucket()
        try:
            for item in plan.files:
                meter.start(item)
                head = await zone.upload(item.path, item.key, meter.add)
                parts = upload_plan.parts(item.size, args.part_size * MIB)
                how = f", {parts} parts" if parts > 1 else ""
                where = f"s3://{settings.bucket}/{item.key}"
                meter.done(f"uploaded {item.path} -> {where} ({human(head.size)}{how}, ETag {head.etag})")
        finally:
            meter.close()
    cmd.out(f"{len(plan.files)} file(s), {human(plan.total_bytes)} in s3://{settings.bucket}; "
            "follow them: python -m streamproc status")  # fmt: skip


def checked_plan(args: UploadArgs) -> UploadPlan:
    """The files to upload; refused if any named file is not CSV, or two files would share a key."""
    plan = upload_plan.plan_uploads(args.paths, args.prefix, any_file=args.any_file)
    if plan.refused:
        named = ", ".join(str(p) for p in plan.refused)
        msg = f"refused {named}: {upload_plan.NOT_CSV}. Nothing was uploaded; --any uploads it anyway"
        raise Refused(msg)
    clashes = upload_plan.repeated_keys(plan)
    if clashes:
        msg = f"two files would land on the same key: {', '.join(clashes)}; upload them separately or with --prefix"
        raise BadUsage(msg)
    if not plan.files:
        msg = "no .csv or .csv.gz file to upload there"
        raise NotFound(msg)
    return plan
