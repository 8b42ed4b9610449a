"""What `upload` sends where: keys as `aws s3 cp --recursive` makes them, only CSV files unless --any, progress."""

from __future__ import annotations

from pathlib import Path

from streamproc.cli.upload_plan import Progress, human, normalise_prefix, parts, plan_uploads, repeated_keys


def files(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)


def test_a_folder_lands_at_the_prefix_plus_each_files_path_inside_it(tmp_path: Path) -> None:
    files(tmp_path / "batch", "pharmacy_claims/a.csv", "audit_records/b.CSV.GZ", "root.csv", "notes.txt", ".DS_Store")
    plan = plan_uploads([tmp_path / "batch"], "incoming")
    assert [u.key for u in plan.files] == [
        "incoming/audit_records/b.CSV.GZ",
        "incoming/pharmacy_claims/a.csv",
        "incoming/root.csv",
    ]
    assert sorted(p.name for p in plan.skipped) == [".DS_Store", "notes.txt"]
    assert plan.refused == []
    assert plan.total_bytes == 30


def test_a_file_lands_at_the_prefix_plus_its_name_and_a_named_non_csv_file_is_refused(tmp_path: Path) -> None:
    files(tmp_path, "deep/dir/pharmacy_claim_1.csv", "report.pdf")
    plan = plan_uploads([tmp_path / "deep/dir/pharmacy_claim_1.csv", tmp_path / "report.pdf"])
    assert [u.key for u in plan.files] == ["pharmacy_claim_1.csv"]
    assert [p.name for p in plan.refused] == ["report.pdf"]


def test_any_uploads_every_file(tmp_path: Path) -> None:
    files(tmp_path, "a.txt", "b.csv")
    assert [u.key for u in plan_uploads([tmp_path], any_file=True).files] == ["a.txt", "b.csv"]


def test_two_files_on_one_key_are_found(tmp_path: Path) -> None:
    files(tmp_path, "one/a.csv", "two/a.csv")
    assert repeated_keys(plan_uploads([tmp_path / "one/a.csv", tmp_path / "two/a.csv"])) == ["a.csv"]


def test_prefixes_become_folders() -> None:
    assert [normalise_prefix(p) for p in ("", "x", "x/", "/x/y", " ")] == ["", "x/", "x/", "x/y/", ""]


def test_sizes_read_in_binary_units_and_large_files_take_parts() -> None:
    assert [human(n) for n in (0, 1023, 1536, 5 << 20, 3 << 30, 5 << 40)] == [
        "0 B", "1023 B", "1.5 KiB", "5.0 MiB", "3.0 GiB", "5120.0 GiB",
    ]  # fmt: skip
    assert [parts(n, 8 << 20) for n in (0, (8 << 20) - 1, 8 << 20, (16 << 20) + 1)] == [1, 1, 1, 3]


def test_the_bar_shows_bytes_files_and_the_current_file() -> None:
    progress = Progress(total_bytes=4 << 20, total_files=3, done_bytes=1 << 20, done_files=1, current="a.csv")
    assert progress.bar(width=8) == "[##......]  25%  1.0 MiB of 4.0 MiB  1/3 files  a.csv"
    assert Progress(total_bytes=0, total_files=0).bar(width=4) == "[####] 100%  0 B of 0 B  0/0 files"
