"""Registries for unit tests: the seed datasets as declared, and without their file-level controls (the split's
plain path, where rows are published as they are parsed)."""

from __future__ import annotations

import dataclasses

from streamproc.datasets.controls import ControlPolicy
from streamproc.datasets.registry import Registry, load_registry

SEEDED: Registry = load_registry()
PLAIN: Registry = Registry([dataclasses.replace(d, controls=ControlPolicy()) for d in SEEDED])
