"""The run's JSON report: faults by kind, the drawn durations' distribution, recovery p50/p95/max, what was
checked and every violation (file, version, line, what was expected, what was found, which faults hit it)."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from devstack.chaos.checker import Result
from devstack.chaos.nemesis import Injected
from devstack.chaos.schedule import TAIL_SHARE, histogram
from devstack.chaos.traffic import Upload


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (share in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 3)


def build(
    *, seed: int, minutes: float, faults: list[Injected], uploads: list[Upload], result: Result, extra: dict[str, Any]
) -> dict[str, Any]:
    recoveries = [f.recovery for f in faults if f.recovery is not None]
    durations = [f.fault.duration for f in faults]
    return {
        "seed": seed,
        "minutes": minutes,
        **extra,
        "ok": not result.violations,
        "violation_count": len(result.violations),
        "faults": {
            "total": len(faults),
            "by_kind": dict(sorted(Counter(f.fault.kind for f in faults).items())),
            "by_target": dict(sorted(Counter(f.target for f in faults).items())),
            "not_recovered": sum(1 for f in faults if not f.recovered),
            "durations": {
                "drawn": "log-uniform 1-10 s, with a tail share of %.0f%% log-uniform 10-120 s" % (TAIL_SHARE * 100),
                "histogram": histogram(durations),
                "p50": percentile(durations, 0.5),
                "max": max(durations, default=None),
            },
        },
        "recovery_seconds": {
            "what": "from a fault's end until every file in flight has loaded its next row (or finished)",
            "count": len(recoveries),
            "p50": percentile(recoveries, 0.5),
            "p95": percentile(recoveries, 0.95),
            "max": round(max(recoveries), 3) if recoveries else None,
        },
        "checked": {
            "files": result.files_checked,
            "versions": result.versions_checked,
            "rows": result.rows_checked,
            "uploads": len(uploads),
            "kinds": dict(sorted(Counter(u.file.kind.split(":")[0] for u in uploads).items())),
            "statuses": dict(sorted(result.statuses.items())),
            "duplicate_dead_letters_on_topic": result.duplicate_dead_letters,
        },
        "violations": result.violations,
        "fault_log": [f.as_dict() for f in faults],
    }


def write(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def summary(report: dict[str, Any]) -> str:
    f, r, c = report["faults"], report["recovery_seconds"], report["checked"]
    return (
        f"chaos seed {report['seed']}: {f['total']} faults {f['by_kind']}; "
        f"recovery p50 {r['p50']} s, p95 {r['p95']} s, max {r['max']} s; "
        f"checked {c['files']} files ({c['versions']} versions), {c['rows']} rows; "
        f"{report['violation_count']} violation(s)"
    )
