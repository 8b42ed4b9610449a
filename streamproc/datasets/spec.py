"""What a field rule is: its authoritative check, and how the fast path may check the same field cheaper."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T", covariant=True)


class Violation(ValueError):
    """One broken rule: a stable short id and a message that never quotes the value (it may be PHI)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


@dataclass(frozen=True, kw_only=True)
class Exact:
    """The text is its own value when it fully matches `pattern` (after `prepare`) and passes `accept`.

    The pattern accepts only the canonical text: the check's value for such a text encodes to JSON exactly
    as the text does (an id, 11 digits, a decimal without leading zeros). All Exact columns of a row are
    matched by one combined regex, so a pattern must not match the separator \\x1f.
    """

    pattern: str
    prepare: Callable[[str], str] | None = None  # e.g. "12345-6789-01" -> "12345678901"
    accept: Callable[[str], bool] | None = None  # e.g. the NPI check digit
    typed: Callable[[str], object] | None = None  # the typed value of an accepted text, cheaper than the check
    # What every accepted text satisfies, so the published schema need not be re-checked per row: its length
    # range, and schema patterns (as written in msgspec.Meta) it implies.
    lengths: tuple[int, int] | None = None
    patterns: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class Memo:
    """A small domain (dates, enums, small integers): the check's value is cached per distinct text."""


@dataclass(frozen=True, kw_only=True)
class Call:
    """No cheaper form: the fast path calls the check itself (its typed value, its verdict)."""


Fast = Exact | Memo | Call


@dataclass(frozen=True)
class Rule(Generic[T]):
    """One field's rule: `check` turns trimmed, non-empty text into the typed value or raises Violation."""

    check: Callable[[str], T]
    fast: Fast = Call()

    def __call__(self, value: str) -> T:
        return self.check(value)
