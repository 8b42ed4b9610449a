"""File-level controls a dataset declares (error budget, control totals, duplicate files) and their verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

Action = Literal["warn", "hold"]
Source = Literal["trailer", "manifest"]
_ACTIONS = ("warn", "hold")


@dataclass(frozen=True)
class Limit:
    """A threshold on rejected rows and what crossing it does: `warn` loads and flags the file, `hold` keeps it back."""

    at_most: float
    action: Action = "hold"

    def __post_init__(self) -> None:
        if self.action not in _ACTIONS:
            msg = f"a limit's action is warn or hold, got {self.action!r}"
            raise ValueError(msg)
        if not self.at_most >= 0:  # also refuses NaN
            msg = f"a limit is a number >= 0, got {self.at_most!r}"
            raise ValueError(msg)


@dataclass(frozen=True)
class ErrorBudget:
    """How many rejected rows a file may have: as a share of the rows read (0 to 1) and as a count."""

    share: Limit | None = None
    count: Limit | None = None

    def __post_init__(self) -> None:
        if self.share is not None and self.share.at_most > 1:
            msg = f"an error budget's share is between 0 and 1, got {self.share.at_most}"
            raise ValueError(msg)
        if self.count is not None and self.count.at_most != int(self.count.at_most):
            msg = f"an error budget's count is a whole number, got {self.count.at_most}"
            raise ValueError(msg)


@dataclass(frozen=True)
class TrailerLayout:
    """The file's last line carries its control totals: `<tag>,<row count>[,<sum of each column in sums>]`."""

    tag: str = "TRAILER"
    sums: tuple[str, ...] = ()


@dataclass(frozen=True)
class ManifestRule:
    """A sidecar `<key>.manifest.json` with the row count, column sums and SHA-256; `required`: the file waits."""

    required: bool = False
    sums: tuple[str, ...] = ()


@dataclass(frozen=True)
class Controls:
    """What a dataset (or one sender's prefix) checks before a file's rows are published. The default checks
    nothing, and a file then costs what it always did."""

    budget: ErrorBudget | None = None
    trailer: TrailerLayout | None = None
    manifest: ManifestRule | None = None
    duplicates: bool = False  # hold a file whose decompressed content equals one already loaded

    @property
    def declared(self) -> bool:
        return bool(self.budget or self.trailer or self.manifest or self.duplicates)

    @property
    def summed_columns(self) -> tuple[str, ...]:
        """The columns whose sums a file of this dataset must be checked against, in a stable order."""
        names = (*(self.trailer.sums if self.trailer else ()), *(self.manifest.sums if self.manifest else ()))
        return tuple(dict.fromkeys(names))

    def check_columns(self, columns: Mapping[str, int | None]) -> list[str]:
        """Problems with the declared sums, given the dataset's columns and their decimal scale (None: not numeric)."""
        problems = []
        for name in self.summed_columns:
            if name not in columns:
                problems.append(f"control totals sum {name!r}, which is not a column")
            elif columns[name] is None:
                problems.append(f"control totals sum {name!r}, which is not a numeric column")
        return problems


@dataclass(frozen=True)
class ControlPolicy:
    """A dataset's controls, with an override per key prefix (a sender); the longest matching prefix wins."""

    default: Controls = field(default_factory=Controls)
    by_prefix: tuple[tuple[str, Controls], ...] = ()

    def for_key(self, key: str) -> Controls:
        matching = [(len(prefix), controls) for prefix, controls in self.by_prefix if key.startswith(prefix)]
        return max(matching, key=lambda m: m[0])[1] if matching else self.default

    @property
    def declared(self) -> bool:
        return self.default.declared or any(c.declared for _, c in self.by_prefix)


@dataclass(frozen=True)
class Declared:
    """Control totals a sender declared for one file, from its trailer or its manifest."""

    source: Source
    row_count: int
    sums: Mapping[str, Decimal] = field(default_factory=dict)
    sha256: str | None = None


@dataclass(frozen=True)
class FileFacts:
    """What the pass over a file found: rows, sums of the summed columns and the content's SHA-256.

    `unsummed` counts, per column, the rows whose value did not read as a number (so its sum leaves them out)."""

    rows_read: int
    rows_rejected: int
    sha256: str
    sums: Mapping[str, Decimal] = field(default_factory=dict)
    unsummed: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """One control a file failed: which, what it expected and what the file holds (counts and totals only)."""

    control: str
    action: Action
    expected: str
    actual: str

    @property
    def reason(self) -> str:
        return f"{self.control}: expected {self.expected}, found {self.actual}"


@dataclass(frozen=True)
class Verdict:
    findings: tuple[Finding, ...] = ()

    @property
    def held(self) -> bool:
        return any(f.action == "hold" for f in self.findings)

    @property
    def warned(self) -> bool:
        return any(f.action == "warn" for f in self.findings)

    @property
    def reason(self) -> str:
        """The findings that decide the file's status (holds first), one clause each."""
        ordered = sorted(self.findings, key=lambda f: f.action != "hold")
        return "; ".join(f.reason for f in ordered)


def evaluate(
    controls: Controls,
    facts: FileFacts,
    declared: Sequence[Declared] = (),
    *,
    duplicate_of: str | None = None,
) -> Verdict:
    """Every control of `controls` against what the file holds; totals the sender declared are all checked."""
    findings = [*_budget(controls.budget, facts)]
    for totals in declared:
        findings.extend(_totals(totals, facts))
    if controls.duplicates and duplicate_of is not None:
        findings.append(duplicate(duplicate_of))
    return Verdict(tuple(findings))


def duplicate(first: str) -> Finding:
    """The finding of a file whose decompressed content equals that of `first`, loaded before."""
    return Finding("duplicate file", "hold", "content not loaded before", f"same content as {first}")


def _budget(budget: ErrorBudget | None, facts: FileFacts) -> list[Finding]:
    if budget is None:
        return []
    out = []
    rejected, read = facts.rows_rejected, facts.rows_read
    if budget.share is not None and read and rejected / read > budget.share.at_most:
        out.append(
            Finding(
                "error budget (share of rows rejected)",
                budget.share.action,
                f"at most {_percent(budget.share.at_most)}",
                f"{_percent(rejected / read)} ({rejected} of {read} rows)",
            )
        )
    if budget.count is not None and rejected > budget.count.at_most:
        out.append(
            Finding(
                "error budget (rows rejected)",
                budget.count.action,
                f"at most {int(budget.count.at_most)}",
                f"{rejected} of {read} rows",
            )
        )
    return out


def _totals(totals: Declared, facts: FileFacts) -> list[Finding]:
    out = []
    if totals.row_count != facts.rows_read:
        out.append(Finding(f"{totals.source} row count", "hold", str(totals.row_count), str(facts.rows_read)))
    for column, expected in totals.sums.items():
        actual = facts.sums.get(column, Decimal(0))
        if expected != actual:
            left_out = facts.unsummed.get(column, 0)
            note = f" ({left_out} rows with no readable {column} left out)" if left_out else ""
            out.append(Finding(f"{totals.source} sum of {column}", "hold", str(expected), f"{actual}{note}"))
    if totals.sha256 is not None and totals.sha256 != facts.sha256:
        out.append(Finding(f"{totals.source} SHA-256", "hold", totals.sha256, facts.sha256))
    return out


def _percent(share: float) -> str:
    return f"{share * 100:.4g} %"
