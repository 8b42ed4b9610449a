"""The benchmark's results: each figure's median of the runs with min/max, the ratios, the targets, md and json."""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    """One measured quantity over the runs."""

    name: str
    unit: str
    values: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else 0.0

    def cell(self) -> str:
        if not self.values:
            return "not measured"
        if len(self.values) == 1:
            return f"{self.median:,.0f}" if self.median >= 100 else f"{self.median:,.3g}"
        low, high = min(self.values), max(self.values)
        fmt = "{:,.0f}" if self.median >= 100 else "{:,.3g}"
        return f"{fmt.format(self.median)} ({fmt.format(low)} to {fmt.format(high)})"


@dataclass
class Target:
    """A goal of issue 8: `value` compared with `goal` (>= unless `at_most`)."""

    what: str
    value: float
    goal: float
    detail: str
    at_most: bool = False

    @property
    def met(self) -> bool:
        return self.value <= self.goal if self.at_most else self.value >= self.goal


@dataclass
class Report:
    command: str
    settings: dict[str, Any]
    figures: dict[str, Figure] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profiles: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # what -> (function, self share)

    def figure(self, key: str, name: str, unit: str = "rows/s") -> Figure:
        return self.figures.setdefault(key, Figure(name=name, unit=unit))

    def to_json(self) -> dict[str, Any]:
        return {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": self.command,
            "machine": machine(),
            "settings": self.settings,
            "figures": {k: asdict(f) | {"median": f.median} for k, f in self.figures.items()},
            "targets": [asdict(t) | {"met": t.met} for t in self.targets],
            "problems": self.problems,
            "notes": self.notes,
            "profiles": self.profiles,
        }

    def to_markdown(self) -> str:
        m = machine()
        lines = [
            "# Benchmark results",
            "",
            f"`{self.command}` on {m['cores']} cores, {m['memory_gib']} GiB, {m['platform']}, Python {m['python']};"
            f" {', '.join(f'{k} {v}' for k, v in m['packages'].items())}.",
            "",
            "| figure | median (min to max) | unit | note |",
            "|---|---:|---|---|",
            *(f"| {f.name} | {f.cell()} | {f.unit} | {f.note} |" for f in self.figures.values()),
            "",
            "| target | measured | goal | met |",
            "|---|---:|---:|:---:|",
            *(
                f"| {t.what} | {t.value:,.2f} ({t.detail}) | {'≤' if t.at_most else '≥'} {t.goal:g} | "
                f"{'yes' if t.met else '**no**'} |"
                for t in self.targets
            ),
            "",
            f"Row checks: {'every run loaded exactly the expected rows' if not self.problems else 'FAILED'}.",
            *(f"- {p}" for p in self.problems),
            *(["", "Notes:"] if self.notes else []),
            *(f"- {n}" for n in self.notes),
            *self._profiles_markdown(),
        ]
        return "\n".join(lines) + "\n"

    def _profiles_markdown(self) -> list[str]:
        if not self.profiles:
            return []
        lines = ["", "Where the time goes (py-spy, share of the stage's samples spent in the function itself):"]
        for what, top in self.profiles.items():
            lines += ["", f"{what}:", "", "| self | function |", "|---:|---|"]
            lines += [f"| {share:.1%} | `{name}` |" for name, share in top]
        return lines

    def write(self, folder: Path) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        md, js = folder / "latest.md", folder / "latest.json"
        md.write_text(self.to_markdown())
        js.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return md, js


def machine() -> dict[str, Any]:
    memory_kb = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    packages = {}
    for name in ("faust-streaming", "aiokafka", "msgspec", "psycopg", "murmurhash2"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "missing"
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "packages": packages,
    }
