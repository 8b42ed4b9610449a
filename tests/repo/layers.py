"""The layer rule, in one table: each part of the code, the parts it may use, the libraries it may import.

`tests/repo/test_layers.py` checks every module of `streamproc/` and `bridge/` against it (a module matches
the entry with its longest module prefix, so a new module is covered the day it is written), fails on any
import cycle (`TYPE_CHECKING` imports included), and keeps the README's Layout table equal to `markdown()`.
`python -m tests.repo.layers` prints that table.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("streamproc", "bridge")
DRIVERS = frozenset(
    {"faust", "mode", "aiokafka", "kafka", "aioboto3", "aiobotocore", "botocore", "boto3", "psycopg", "psycopg_pool"}
    | {"aiohttp", "prometheus_client", "devstack"}
)


@dataclass(frozen=True)
class Layer:
    name: str
    modules: tuple[str, ...]  # module prefixes (a package covers its submodules)
    uses: tuple[str, ...]  # the layers (by name) its modules may import, besides their own
    libraries: tuple[str, ...]  # third-party modules it may import (the standard library is always allowed)
    what: str

    @property
    def pure(self) -> bool:
        """Loads no driver or framework, also transitively (checked in a fresh interpreter)."""
        return not DRIVERS & set(self.libraries)


_BASE = ("shared", "contract")
_INGEST = (*_BASE, "datasets", "topics", "ingest", "kafka.resets")
_BELOW_WORKER = (*_INGEST, "kafka", "adapters")
_RENDERING = ("web pages", "cli helpers")

LAYERS: tuple[Layer, ...] = (
    Layer(
        "shared",
        ("streamproc.shared",),
        (),
        ("msgspec", "murmurhash2"),
        "errors, retry, delivery accounting, logs, histogram, partitioning (Kafka's murmur2), settings parsing, "
        "fault points, PHI masking",
    ),
    Layer("contract", ("streamproc.contract",), ("shared",), ("msgspec",), "wire types of the topics; dead letters"),
    Layer(
        "kafka.resets",
        ("streamproc.kafka.resets",),
        ("shared",),
        (),
        "consumer groups as data and offset-reset planning (what `replay` computes)",
    ),
    Layer(
        "kafka",
        ("streamproc.kafka",),
        ("shared", "contract", "kafka.resets"),
        ("aiokafka", "murmurhash2", "msgspec"),
        "every use of aiokafka: admin, producer, consumer, reader, group admin, static members, tail; "
        "one error translation",
    ),
    Layer(
        "kafka.faust_driver",
        ("streamproc.kafka.faust_driver",),
        ("shared",),
        ("faust", "aiokafka"),
        "Faust's aiokafka transport: topic creation that skips a broker that is down (the worker's start), "
        "a rebalance's rewind that covers partitions never committed",
    ),
    Layer(
        "datasets",
        ("streamproc.datasets",),
        _BASE,
        ("msgspec",),
        "the dataset model, public rules, fast path, registry, sample files, one module per dataset",
    ),
    Layer(
        "topics",
        ("streamproc.topics",),
        (*_BASE, "datasets"),
        ("msgspec",),
        "the topic contract, JSON Schemas, docs/topics.md",
    ),
    Layer(
        "ingest",
        ("streamproc.ingest",),
        (*_BASE, "datasets"),
        ("msgspec",),
        "ports (what the stages need), ledger rules, parsing, file rejections, the split stage, sinks, "
        "the dead-letter writer, group naming",
    ),
    Layer(
        "adapters",
        ("streamproc.adapters",),
        (*_BASE, "datasets", "ingest"),
        ("aioboto3", "aiobotocore", "boto3", "botocore", "psycopg", "psycopg_pool", "aiohttp", "msgspec"),
        "S3, PostgreSQL, ledger store and reader, row store, SQL, drop zone, bridge health",
    ),
    Layer(
        "worker",
        ("streamproc.worker",),
        _BELOW_WORKER,
        ("mode",),
        "the worker's settings and its pipeline service (builds the adapters, runs fan-out and sinks)",
    ),
    Layer(
        "web pages",
        ("streamproc.web",),
        _INGEST,
        (),
        "pure rendering of the stats pages, JSON API, health, lag and throughput",
    ),
    Layer(
        "web",
        tuple(f"streamproc.web.{m}" for m in ("lag_reader", "metrics", "monitor", "routes", "views")),
        (*_BELOW_WORKER, "worker", "web pages"),
        ("aiohttp", "faust", "mode", "prometheus_client", "msgspec"),
        "the monitor, metrics, views and routes on the worker's web server",
    ),
    Layer(
        "cli helpers",
        tuple(f"streamproc.cli.{m}" for m in ("errors", "params", "tail_format", "upload_plan", "views")),
        _INGEST,
        ("click", "msgspec"),
        "pure parts of the operator commands: exit codes, parameters, views, formats, upload plans",
    ),
    Layer(
        "cli",
        ("streamproc.cli",),
        (*_BELOW_WORKER, "worker", "cli helpers"),
        ("click", "faust", "aioboto3", "msgspec"),
        "the operator commands",
    ),
    Layer(
        "entry",
        ("streamproc.__init__", "streamproc.__main__", "streamproc.app"),
        (*_BELOW_WORKER, "kafka.faust_driver", "worker", *_RENDERING, "web", "cli"),
        ("faust",),
        "entry points: the Faust app (`faust -A streamproc.app worker`), `python -m streamproc`",
    ),
    Layer(
        "bridge messages",
        ("bridge.messages", "bridge.notifications", "bridge.settings"),
        _BASE,
        ("msgspec",),
        "the bridge's pure part: notifications to object events, dead letters to SQS messages, its settings",
    ),
    Layer(
        "bridge",
        ("bridge",),
        (*_BASE, "kafka", "bridge messages"),
        ("aiohttp", "aioboto3", "aiobotocore", "botocore", "prometheus_client", "msgspec"),
        "the SQS adapter, relay, DLQ mirror, health and metrics server, and the bootstrap that builds them",
    ),
)
BY_NAME = {layer.name: layer for layer in LAYERS}


def modules() -> dict[str, Path]:
    """Every module of the shipped packages, by dotted name (a package by its `__init__`'s name)."""
    found: dict[str, Path] = {}
    for package in SHIPPED:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts)] = path
    return found


def layer_of(module: str) -> Layer | None:
    """The entry with the longest module prefix that covers `module` (None: outside every layer)."""
    best: tuple[int, Layer] | None = None
    for layer in LAYERS:
        for prefix in layer.modules:
            if module == prefix or module.startswith(prefix + "."):
                best = max(best or (-1, layer), (len(prefix), layer), key=lambda pair: pair[0])
    return best[1] if best else None


@dataclass(frozen=True)
class Import:
    target: str  # dotted module (for project modules, the module itself, never a name inside it)
    line: int


def imports_of(module: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    """Every import anywhere in the module (functions and TYPE_CHECKING blocks too), resolved to modules."""
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "__future__":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield Import(sub if sub in known or f"{sub}.__init__" in known else base, node.lineno)


def project_module(target: str, known: dict[str, Path]) -> str | None:
    """The tree's module an import names (a package by its `__init__`), or None for a library."""
    if target in known:
        return target
    if f"{target}.__init__" in known:
        return f"{target}.__init__"
    return None


def loaded_with(module: str) -> list[str]:
    """What importing `module` also runs: the `__init__` of each package above it."""
    parts = module.removesuffix(".__init__").split(".")
    return [".".join([*parts[:i], "__init__"]) for i in range(1, len(parts))]


def graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (each with the packages' `__init__` that importing it runs)."""
    known = modules()
    edges: dict[str, set[str]] = {}
    for module, path in known.items():
        targets: set[str] = set()
        for imp in imports_of(module, path, known):
            found = project_module(imp.target, known)
            if found:
                targets |= {found, *(m for m in loaded_with(found) if m in known)}
        edges[module] = targets - {module}
    return edges


def is_library(root: str) -> bool:
    return root not in sys.stdlib_module_names and root not in SHIPPED


def markdown() -> str:
    """The README's Layout table."""
    rows = ["| layer | modules | may use | libraries | what it holds |", "|---|---|---|---|---|"]
    for layer in LAYERS:
        modules_ = ", ".join(f"`{m}`" for m in layer.modules)
        uses = ", ".join(layer.uses) or "-"
        libraries = ", ".join(layer.libraries) or "standard library only"
        rows.append(f"| {layer.name} | {modules_} | {uses} | {libraries} | {layer.what} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(markdown() + "\n")
