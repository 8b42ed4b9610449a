"""The set of known datasets: discovered from this package (plus named extra modules) and matched to files."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Iterable, Iterator, Sequence
from fnmatch import fnmatchcase
from types import ModuleType

import streamproc.datasets as package
from streamproc.datasets.controls import ControlPolicy
from streamproc.datasets.model import Dataset
from streamproc.shared.settings import TopicSettings


class Registry:
    """Datasets by name and topic, and which one claims a file: key prefix, then file name, then header."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self._datasets = tuple(sorted(datasets, key=lambda d: d.name))
        for attribute in ("name", "topic", "table"):
            values = [getattr(d, attribute) for d in self._datasets]
            if len(set(values)) != len(values):
                msg = f"two datasets share a {attribute}: {sorted(values)}"
                raise ValueError(msg)
        self._by_name = {d.name: d for d in self._datasets}
        self._by_topic = {d.topic: d for d in self._datasets}

    @property
    def declares_controls(self) -> bool:
        """Some dataset checks files before their rows are published (see streamproc.datasets.controls)."""
        return any(d.controls.declared for d in self._datasets)

    def __iter__(self) -> Iterator[Dataset]:
        return iter(self._datasets)

    def __len__(self) -> int:
        return len(self._datasets)

    def __repr__(self) -> str:
        return f"Registry({', '.join(self._by_name)})"

    def qualified(self, topics: TopicSettings) -> Registry:
        """The same datasets with each topic name qualified by the topic namespace (environments sharing a cluster)."""
        if not topics.namespace:
            return self
        return Registry(dataclasses.replace(d, topic=topics.qualify(d.topic)) for d in self._datasets)

    def without_controls(self) -> Registry:
        """The same datasets with no file-level control: rows published as parsed, no file HELD by a control."""
        return Registry([dataclasses.replace(d, controls=ControlPolicy()) for d in self._datasets])

    def by_name(self, name: str) -> Dataset:
        """The dataset called `name`; KeyError if there is none."""
        return self._by_name[name]

    def by_topic(self, topic: str) -> Dataset:
        """The dataset whose rows go to `topic`; KeyError if there is none."""
        return self._by_topic[topic]

    def recognise(self, key: str, header: Sequence[str] | None) -> Dataset | None:
        """The one dataset that claims the object `key` with this header row, else None.

        In order: the longest matching key prefix; a file-name pattern (a `.gz` suffix is ignored) that
        exactly one dataset has; the header, when exactly one dataset finds all its required columns in it.
        """
        return self._by_prefix(key) or self._by_file_name(key) or self._by_header(header)

    def _by_prefix(self, key: str) -> Dataset | None:
        folded = key.casefold()
        matches = [(len(p), d) for d in self._datasets for p in d.key_prefixes if folded.startswith(p.casefold())]
        if not matches:
            return None
        longest = max(length for length, _ in matches)
        best = {d.name: d for length, d in matches if length == longest}
        return next(iter(best.values())) if len(best) == 1 else None

    def _by_file_name(self, key: str) -> Dataset | None:
        base = key.rpartition("/")[2].casefold()
        names = (base, base.removesuffix(".gz")) if base.endswith(".gz") else (base,)
        matches = [
            d for d in self._datasets if any(fnmatchcase(n, p.casefold()) for p in d.filename_patterns for n in names)
        ]
        return matches[0] if len(matches) == 1 else None

    def _by_header(self, header: Sequence[str] | None) -> Dataset | None:
        if not header:
            return None
        present = {name.strip().lower() for name in header}
        matches = [d for d in self._datasets if d.required_columns <= present]
        return matches[0] if len(matches) == 1 else None

    def describe(self) -> str:
        """What the datasets look for, for a clear 'no dataset recognises this file' reason."""
        return "; ".join(
            f"{d.name}: key prefix {'/'.join(d.key_prefixes)} or file name {'/'.join(d.filename_patterns)} "
            f"or header with {', '.join(sorted(d.required_columns))}"
            for d in self._datasets
        )


def _dataset_of(module: ModuleType) -> Dataset | None:
    found = getattr(module, "DATASET", None)
    return found if isinstance(found, Dataset) else None


def load_registry(extra_modules: Sequence[str] = ()) -> Registry:
    """Every module of streamproc.datasets that defines a module-level DATASET, plus extra modules by dotted name."""
    found: list[Dataset] = []
    for info in pkgutil.iter_modules(package.__path__, prefix=f"{package.__name__}."):
        if info.name.rpartition(".")[2].startswith("_") or info.ispkg:
            continue
        dataset = _dataset_of(importlib.import_module(info.name))
        if dataset is not None:
            found.append(dataset)
    for name in extra_modules:
        dataset = _dataset_of(importlib.import_module(name))
        if dataset is None:
            msg = f"module {name!r} defines no module-level DATASET"
            raise ValueError(msg)
        found.append(dataset)
    return Registry(found)
