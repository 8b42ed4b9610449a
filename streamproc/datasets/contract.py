"""A dataset's consumer-facing contract, versioned (pure; issue 18, first slice).

A contract is the part of a dataset its consumers rely on: its columns, each with its type, whether it is
required, whether it is PHI, and the header names accepted for it (aliases). Its history is every version, 1, 2, …;
operational settings (budgets, schedules) are not part of it. Two things are computed here:

- the **drift** of a file's header against a version: header names the contract does not know (added), columns the
  header lacks (missing), names read through an alias (renamed), the contract's columns in another order
  (reordered), and columns named twice (repeated). Only header names are compared, never a value;
- the **changes** from one version to the next, each compatible or breaking: an added optional column is
  compatible; a removed or retyped column, an optional column made required, a required column added, or a PHI
  column made non-PHI is breaking.

Not yet wired: the parser, the ledger, the topics' schema_version and the `contract` command come in later slices.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from streamproc.datasets.columns import Column

_NAME = re.compile(r"[a-z][a-z0-9_]*")
SHOWN = 64  # characters of a header name that a drift record keeps (a name is untrusted text)
LISTED = 50  # unknown header names a drift record lists; the rest are counted (a header may have 10,000)

ChangeKind = Literal["added", "removed", "retyped", "now required", "now optional", "no longer PHI", "now PHI"]


def normalised(name: str) -> str:
    """A header name as files are matched on it: trimmed and lower-cased (as the parser does)."""
    return name.strip().lower()


def shown(name: str) -> str:
    """A header name fit for a ledger row or a log: escapes for what does not print, at most SHOWN characters."""
    text = name.encode("unicode_escape").decode("ascii")
    return text if len(text) <= SHOWN else f"{text[: SHOWN - 1]}…"


@dataclass(frozen=True)
class ContractColumn:
    name: str
    pg_type: str
    required: bool
    phi: bool = False
    aliases: tuple[str, ...] = ()  # other header names read as this column (normalised when compared)


@dataclass(frozen=True)
class Version:
    number: int
    columns: tuple[ContractColumn, ...]
    note: str = ""  # what changed, in a sentence (docs/topics.md lists it)

    def names(self) -> dict[str, str]:
        """Every header name this version accepts (normalised) -> the column it is read as."""
        accepted = {c.name: c.name for c in self.columns}
        accepted |= {normalised(a): c.name for c in self.columns for a in c.aliases}
        return accepted

    def problems(self) -> list[str]:
        names = [c.name for c in self.columns]
        found = [f"column name {n!r} is not a lower-case identifier" for n in names if not _NAME.fullmatch(n)]
        if len(set(names)) != len(names):
            found.append("column names repeat")
        seen = set(names)
        for column in self.columns:
            for alias in map(normalised, column.aliases):
                if alias in seen:
                    found.append(f"alias {shown(alias)!r} of {column.name!r} is already a column or another alias")
                seen.add(alias)
        return found


def first_version(columns: Sequence[Column], phi_fields: frozenset[str]) -> Version:
    """Version 1 of a dataset that declares no history: its columns as they are, PHI as it declares, no alias."""
    made = tuple(ContractColumn(c.name, c.pg_type, c.required, phi=c.name in phi_fields) for c in columns)
    return Version(1, made, note="the dataset's columns when contracts began")


@dataclass(frozen=True)
class Change:
    column: str
    kind: ChangeKind
    breaking: bool
    detail: str = ""


def compare(old: Version, new: Version) -> tuple[Change, ...]:
    """Every change from `old` to `new`, column by column (the old columns' order, then the new ones')."""
    before = {c.name: c for c in old.columns}
    after = {c.name: c for c in new.columns}
    changes = [Change(n, "removed", breaking=True) for n in before if n not in after]
    for name in before.keys() & after.keys():
        was, now = before[name], after[name]
        if was.pg_type != now.pg_type:
            changes.append(Change(name, "retyped", breaking=True, detail=f"{was.pg_type} -> {now.pg_type}"))
        if was.required != now.required:
            changes.append(Change(name, "now required" if now.required else "now optional", breaking=now.required))
        if was.phi != now.phi:  # a consumer that masks what is PHI would start showing it
            changes.append(Change(name, "now PHI" if now.phi else "no longer PHI", breaking=not now.phi))
    changes.extend(
        Change(n, "added", breaking=c.required, detail=c.pg_type) for n, c in after.items() if n not in before
    )
    order = {n: i for i, n in enumerate([*before, *(n for n in after if n not in before)])}
    return tuple(sorted(changes, key=lambda c: order[c.column]))


@dataclass(frozen=True)
class Contract:
    """A dataset's contract: its versions, numbered 1, 2, … in order; the last is the current one."""

    dataset: str
    history: tuple[Version, ...]

    def __post_init__(self) -> None:
        problems = []
        if [v.number for v in self.history] != list(range(1, len(self.history) + 1)):
            problems.append("versions are not numbered 1, 2, … in order")
        problems.extend(f"version {v.number}: {p}" for v in self.history for p in v.problems())
        if problems:
            msg = f"contract of {self.dataset!r}: " + "; ".join(problems)
            raise ValueError(msg)

    @property
    def current(self) -> Version:
        return self.history[-1]

    def changes(self, number: int) -> tuple[Change, ...]:
        """What version `number` changed from the one before it (version 1: every column added)."""
        new = self.history[number - 1]
        return compare(self.history[number - 2] if number > 1 else Version(0, ()), new)

    def breaking(self, number: int) -> bool:
        return any(c.breaking for c in self.changes(number))


@dataclass(frozen=True)
class Drift:
    """A file's header against a contract version, by name only (every name as `shown` gives it)."""

    added: tuple[str, ...] = ()  # header names the version does not know, neither a column nor an alias (LISTED)
    added_unlisted: int = 0  # more such names, past the first LISTED
    missing: tuple[str, ...] = ()  # columns the header lacks, required or not
    missing_required: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()  # (header name, column) read through an alias
    repeated: tuple[str, ...] = ()  # columns the header names more than once (a name and its alias included)
    reordered: bool = False  # the columns it has are not in the version's order

    @property
    def none(self) -> bool:
        return self == Drift()


def drift(header: Sequence[str], version: Version) -> Drift:
    """How `header` differs from `version`: linear in the header's length, whatever its names hold."""
    accepted = version.names()
    read: list[str] = []  # the column each known header name is read as, in header order
    added: list[str] = []  # the first LISTED unknown names
    unknown = 0
    renamed: list[tuple[str, str]] = []
    for raw in header:
        name = normalised(raw)
        column = accepted.get(name)
        if column is None:
            unknown += 1
            if len(added) < LISTED:
                added.append(shown(name))
            continue
        read.append(column)
        if name != column:
            renamed.append((shown(name), column))
    counts = Counter(read)
    missing = [c for c in version.columns if c.name not in counts]
    position = {c.name: i for i, c in enumerate(version.columns)}
    firsts = [position[c] for c in dict.fromkeys(read)]
    return Drift(
        added=tuple(added),
        added_unlisted=unknown - len(added),
        missing=tuple(c.name for c in missing),
        missing_required=tuple(c.name for c in missing if c.required),
        renamed=tuple(renamed),
        repeated=tuple(c for c, n in counts.items() if n > 1),
        reordered=firsts != sorted(firsts),
    )
