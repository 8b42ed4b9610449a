"""What `upload` sends where, and how its progress reads (pure but for listing and sizing local files).

Keys follow `aws s3 cp --recursive`: a file argument lands at PREFIX + its name; the files under a
folder argument land at PREFIX + their path relative to that folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

SUFFIXES = (".csv", ".csv.gz", ".manifest.json")  # as the bucket notifies (a data file and its manifest)
NOT_CSV = (
    "not .csv or .csv.gz (or a .manifest.json): the bucket notifies the pipeline of those only, so it would never "
    "be ingested"
)


@dataclass(frozen=True)
class Upload:
    path: Path
    key: str
    size: int


@dataclass
class UploadPlan:
    files: list[Upload] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # non-CSV files found in folders
    refused: list[Path] = field(default_factory=list)  # non-CSV files named on the command line

    @property
    def total_bytes(self) -> int:
        return sum(u.size for u in self.files)


def normalise_prefix(prefix: str) -> str:
    """`pharmacy_claims` -> `pharmacy_claims/`; leading slashes dropped; empty stays empty."""
    prefix = prefix.strip().lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def is_csv(path: Path) -> bool:
    return path.name.lower().endswith(SUFFIXES)


def plan_uploads(paths: Sequence[Path], prefix: str = "", *, any_file: bool = False) -> UploadPlan:
    """Every file to upload with its key; non-CSV files are refused (named) or skipped (in folders) unless any_file."""
    plan = UploadPlan()
    base = normalise_prefix(prefix)
    for path in paths:
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.is_file()):
                relative = PurePosixPath(*found.relative_to(path).parts)
                _add(plan, found, base + str(relative), in_folder=True, any_file=any_file)
        else:
            _add(plan, path, base + path.name, in_folder=False, any_file=any_file)
    return plan


def _add(plan: UploadPlan, path: Path, key: str, *, in_folder: bool, any_file: bool) -> None:
    if not any_file and not is_csv(path):
        (plan.skipped if in_folder else plan.refused).append(path)
        return
    plan.files.append(Upload(path, key, path.stat().st_size))


def repeated_keys(plan: UploadPlan) -> list[str]:
    keys = [u.key for u in plan.files]
    return sorted({k for k in keys if keys.count(k) > 1})


def human(size: float) -> str:
    """Bytes in binary units: 512 B, 3.4 KiB, 12.0 MiB."""
    if size < 1024:
        return f"{size:.0f} B"
    units = ["KiB", "MiB", "GiB"]
    size /= 1024
    while size >= 1024 and len(units) > 1:
        size /= 1024
        units.pop(0)
    return f"{size:.1f} {units[0]}"


def parts(size: int, part_size: int) -> int:
    """How many parts an upload takes: 1 below the part size (one PutObject), else one per part_size bytes."""
    return 1 if size < part_size else -(-size // part_size)


@dataclass
class Progress:
    """Bytes and files sent so far, out of the plan's totals."""

    total_bytes: int
    total_files: int
    done_bytes: int = 0
    done_files: int = 0
    current: str = ""

    def bar(self, width: int = 30) -> str:
        """`[#########.....]  62%  12.0/19.4 MiB  2/3 files  pharmacy_claims/a.csv`"""
        share = self.done_bytes / self.total_bytes if self.total_bytes else 1.0
        filled = int(width * share)
        return (
            f"[{'#' * filled}{'.' * (width - filled)}] {share:4.0%}  {human(self.done_bytes)} of "
            f"{human(self.total_bytes)}  {self.done_files}/{self.total_files} files  {self.current}"
        ).rstrip()
