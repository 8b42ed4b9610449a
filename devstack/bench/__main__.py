"""`python -m devstack.bench`: every throughput figure of the pipeline on the local stack, in one run.

Writes bench/results/latest.md and latest.json: the fan-out alone, one sink alone, the sink ceiling, end to
end through the real processes, the per-row baseline, latency, memory and scale-out, each the median of
the runs with min/max, the ratios against the baseline and the ceiling, and a row-count + checksum check of
PostgreSQL after every run (a run that loses or duplicates a row fails the benchmark: exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

from devstack import stack
from devstack.bench import e2e, stages
from devstack.bench.data import BenchFile, generate
from devstack.bench.data import expected as expected_rows
from devstack.bench.profile import top_self
from devstack.bench.report import Report, Target
from devstack.settings import REPO_ROOT, StackSettings
from streamproc.datasets.model import Dataset
from streamproc.datasets.registry import load_registry
from streamproc.ingest.parsing import CsvFileParser, ValidRow


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m devstack.bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small data, one run, no targets (what make test runs)")
    p.add_argument("--rows", type=int, default=1_000_000, help="rows in all (default 1,000,000)")
    p.add_argument("--files", type=int, default=10, help="files they are split into (90%% claims; default 10)")
    p.add_argument("--bad-share", type=float, default=0.005, help="share of rows breaking a rule (0.005)")
    p.add_argument("--runs", type=int, default=3, help="runs of each figure (median, min, max; default 3)")
    p.add_argument("--baseline-rows", type=int, default=20_000, help="rows of the per-row INSERT baseline")
    p.add_argument("--latency-uploads", type=int, default=50, help="10-row uploads timed one after another")
    p.add_argument(
        "--memory-mb",
        type=int,
        default=256,
        help="size of the large file for the memory figure (default 256: 1024 takes ~9 min more on 2 cores)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the fan-out, the sink and the worker in the first run (speedscope files next to the results)",
    )
    p.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results", help="where the results go")
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.files, args.runs, args.baseline_rows = 6000, 3, 1, 300
        args.latency_uploads, args.memory_mb = 3, 2
    return args


async def measure(args: argparse.Namespace, workdir: Path, report: Report) -> None:
    endpoints = stack.up(StackSettings.from_env()).endpoints
    progress(f"generating {args.rows:,} rows as {args.files} files")
    files = generate(
        workdir / "data", total_rows=args.rows, files=args.files, claims_share=0.9, bad_share=args.bad_share
    )
    want = expected_rows(files, bad_share=args.bad_share)
    latencies: list[float] = []
    values: list[tuple[int, bytes]] | None = None
    profiles = args.out if args.profile else None
    for run in range(args.runs):
        s = await stages.stage_run(endpoints, files, want, values=values, profiles=profiles if run == 0 else None)
        values = s.values
        report.figure("fanout", "fan-out alone (S3 read, parse, validate, produce, acks)").values.append(s.fanout)
        report.figure("sink", "one sink alone, from a filled topic").values.append(s.sink)
        report.figure("ceiling", "sink ceiling (same events, no Kafka)").values.append(s.ceiling)
        progress(
            f"run {run + 1}/{args.runs}: fan-out {s.fanout:,.0f}, sink {s.sink:,.0f}, ceiling {s.ceiling:,.0f} rows/s"
        )
        profile = profiles / "profile-worker.speedscope.json" if profiles and run == 0 else None
        r = await e2e.e2e_run(
            endpoints,
            files,
            want,
            workdir,
            latency_uploads=args.latency_uploads if run == 0 else 0,
            profile=profile,
            dlq_wait=180 if args.quick else 0,  # moto's SQS takes minutes for a full run's dead letters
        )
        report.figure("e2e", "end to end, real bridge + worker (upload -> files finished)").values.append(
            r.rows_per_second
        )
        report.figure(
            "worker_cpu", "worker CPU per row, end to end (run 1 under py-spy with --profile)", "µs"
        ).values.append(e2e.worker_cpu_us(r, sum(f.rows for f in files)))
        plain = await e2e.e2e_run(endpoints, files, want, workdir, env={"STREAMPROC_CONTROLS": "false"})
        report.figure(
            "e2e_plain", "end to end, the seed datasets' controls off (STREAMPROC_CONTROLS=false)"
        ).values.append(plain.rows_per_second)
        report.figure("worker_cpu_plain", "worker CPU per row, end to end, controls off", "µs").values.append(
            e2e.worker_cpu_us(plain, sum(f.rows for f in files))
        )
        report.problems += [f"run {run + 1} e2e, controls off: {p}" for p in plain.problems]
        progress(
            f"run {run + 1}/{args.runs}: end to end {r.rows_per_second:,.0f} rows/s, "
            f"{plain.rows_per_second:,.0f} with the controls off"
        )
        latencies += r.latencies
        report.problems += [f"run {run + 1} stages: {p}" for p in s.problems] + [
            f"run {run + 1} e2e: {p}" for p in r.problems
        ]
        report.notes += s.notes + ([f"worker profile: {r.profile_problem}"] if r.profile_problem else [])
        if run == 0:
            report.notes.append(f"run 1: {e2e.cpu_note(r, sum(f.rows for f in files), os.cpu_count() or 1)}")
            rejected = sum(f.rows for f in files) - sum(w.rows for w in want.values())
            when = "" if args.quick else " as the files finished (moto takes ~10 ms per message)"
            report.notes.append(
                f"run 1: the SQS DLQ holds {r.dead_letters:,} messages for {rejected:,} rejected rows{when}"
            )
    report.figure("baseline", "per-row INSERT + commit (seed-style)").values.append(
        await asyncio.to_thread(
            stages.per_row_baseline, endpoints.database_url, *baseline_rows(files, args.baseline_rows)
        )
    )
    progress(f"per-row baseline {report.figures['baseline'].median:,.0f} rows/s; now two workers")
    two = await e2e.e2e_run(endpoints, files, want, workdir, workers=2)
    report.figure("e2e2", "end to end with two workers, 6 partitions").values.append(two.rows_per_second)
    report.problems += [f"two workers: {p}" for p in two.problems]
    report.notes.append(e2e.cpu_note(two, sum(f.rows for f in files), os.cpu_count() or 1))
    report.figure("p50", "latency of a 10-row file, p50", "s").values.append(e2e.percentile(latencies, 0.5))
    report.figure("p95", "latency of a 10-row file, p95", "s").values.append(e2e.percentile(latencies, 0.95))
    progress(f"two workers {two.rows_per_second:,.0f} rows/s; now the memory figure ({args.memory_mb} MB file)")
    await memory(endpoints, workdir, args.memory_mb, report)
    if profiles:
        summarise_profiles(profiles, report)


def summarise_profiles(folder: Path, report: Report) -> None:
    """Where each profiled stage spends its time: the functions with the most self time."""
    for name, within, what in PROFILES:
        path = folder / f"profile-{name}.speedscope.json"
        if path.exists():
            report.profiles[f"{what} (`{path.name}`)"] = top_self(path, within)


PROFILES = (
    ("fanout", "FanOut.", "fan-out alone"),
    ("sink", "SinkConsumer.", "one sink alone (its reads, decode and writes)"),
    ("worker", None, "the worker, end to end"),
)
_STARTED = time.monotonic()


def progress(text: str) -> None:
    """One line on stderr per step, so a long run shows where it is."""
    elapsed = int(time.monotonic() - _STARTED)
    print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {text}", file=sys.stderr, flush=True)


def baseline_rows(files: list[BenchFile], count: int) -> tuple[Dataset, list[tuple[object, ...]]]:
    """The first `count` valid claim rows as typed values plus provenance, for the per-row INSERT loader."""
    registry = load_registry()
    claims = registry.by_name("pharmacy_claims")
    first = next(f for f in files if f.dataset == "pharmacy_claims")
    parser = CsvFileParser(registry, first.key, gzip=False)
    rows: list[tuple[object, ...]] = []
    with first.path.open("rb") as stream:
        while len(rows) < count and (chunk := stream.read(1 << 20)):
            for item in parser.feed(chunk):
                if isinstance(item, ValidRow) and len(rows) < count:
                    row = msgspec.structs.astuple(claims.row_decoder.decode(item.row_json))
                    rows.append((*row, "bench", first.key, "v1", item.line, "2026-01-01T00:00:00Z", None))
    return claims, rows


async def memory(endpoints: stack.Endpoints, workdir: Path, big_mb: int, report: Report) -> None:
    """The worker's peak RSS for a 10 MB file and for a large one: memory must not grow with file size."""
    sizes = {"small": min(10, max(1, big_mb // 4)), "large": big_mb}
    peaks = {}
    for name, mb in sizes.items():
        rows = max(100, mb * 1_000_000 // 160)  # about 160 bytes per generated claim row
        (f,) = generate(workdir / f"memory-{name}", total_rows=rows, files=1, claims_share=1.0, bad_share=0.0)
        run = await e2e.e2e_run(endpoints, [f], None, workdir)
        peaks[name] = run.peak_rss_mb[0]
        report.figure(f"rss_{name}", f"worker peak RSS, one {f.size / 1e6:,.0f} MB file", "MiB").values.append(
            peaks[name]
        )
        f.path.unlink()
    report.figure("rss_growth", "growth of the worker's peak RSS, large vs small file", "MiB").values.append(
        peaks["large"] - peaks["small"]
    )


def judge(report: Report) -> None:
    f = {k: v.median for k, v in report.figures.items()}
    ceiling, baseline = f.get("ceiling", 0.0) or 1.0, f.get("baseline", 0.0) or 1.0
    e2e_rate = f.get("e2e", 0.0)
    report.targets = [
        Target("end to end / per-row baseline", e2e_rate / baseline, 20, f"{e2e_rate:,.0f} / {baseline:,.0f} rows/s"),
        Target("end to end / sink ceiling", e2e_rate / ceiling, 0.5, f"{e2e_rate:,.0f} / {ceiling:,.0f} rows/s"),
        Target("fan-out / sink ceiling", f["fanout"] / ceiling, 1.5, f"{f['fanout']:,.0f} / {ceiling:,.0f} rows/s"),
        Target("one sink / sink ceiling", f["sink"] / ceiling, 0.8, f"{f['sink']:,.0f} / {ceiling:,.0f} rows/s"),
        Target(
            "end-to-end time with the seed datasets' controls / without",
            f["e2e_plain"] / (e2e_rate or 1.0),
            1.25,
            f"{f['e2e_plain']:,.0f} / {e2e_rate:,.0f} rows/s; worker CPU {f['worker_cpu']:.1f} / "
            f"{f['worker_cpu_plain']:.1f} µs per row",
            at_most=True,
        ),
        Target("latency p50 (s)", f["p50"], 0.3, "10-row files, one after another", at_most=True),
        Target("latency p95 (s)", f["p95"], 0.6, "10-row files, one after another", at_most=True),
        Target("worker RSS growth, large vs small file (MiB)", f["rss_growth"], 50, "peak RSS", at_most=True),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    command = "python -m devstack.bench " + shlex.join(list(argv if argv is not None else sys.argv[1:]))
    report = Report(command=command.strip(), settings={k: str(v) for k, v in vars(args).items()})
    workdir = Path(tempfile.mkdtemp(prefix="streamproc-bench-"))
    try:
        asyncio.run(measure(args, workdir, report))
    except BaseException:
        # Every process's whole log stays for the post-mortem (the error carries only their last lines).
        print(f"bench failed: logs and data kept in {workdir}", file=sys.stderr)
        raise
    shutil.rmtree(workdir, ignore_errors=True)
    if not args.quick:
        judge(report)
    md, js = report.write(args.out)
    print(report.to_markdown())
    print(f"written: {md} and {js}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
