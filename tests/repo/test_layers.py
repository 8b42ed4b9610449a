"""The layer rule of tests/repo/layers.py holds for every module: allowed imports only, no cycle, pure means pure."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.repo import layers
from tests.repo.layers import LAYERS, ROOT, Layer

MAX_LINES = 300


def violations(module: str, path: Path, known: dict[str, Path]) -> list[str]:
    """What `module` imports that its layer does not allow, one line each."""
    layer = layers.layer_of(module)
    if layer is None:
        return [f"{module}: in no layer of tests/repo/layers.py"]
    allowed = {layer.name, *layer.uses}
    found = []
    for imp in layers.imports_of(module, path, known):
        target = layers.project_module(imp.target, known)
        if target is None:
            root = imp.target.split(".")[0]
            if layers.is_library(root) and root not in layer.libraries:
                found.append(f"{module}:{imp.line} imports {root} (layer {layer.name} may import {layer.libraries})")
            continue
        theirs = layers.layer_of(target)
        if theirs is not None and theirs.name not in allowed:
            found.append(f"{module}:{imp.line} imports {target} (layer {theirs.name}; {layer.name} may use {allowed})")
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def reachable(edges: dict[str, set[str]], start: set[str]) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_module_imports_only_what_its_layer_allows() -> None:
    known = layers.modules()
    assert len(known) > 80
    found = [line for module, path in known.items() for line in violations(module, path, known)]
    assert found == []


def test_a_wrong_import_in_a_new_module_is_reported(tmp_path: Path) -> None:
    known = layers.modules()
    scratch = tmp_path / "scratch.py"
    scratch.write_text("from streamproc.adapters.postgres import Database\nimport psycopg\nimport json\n")
    found = violations("streamproc.ingest.scratch", scratch, {**known, "streamproc.ingest.scratch": scratch})
    assert [line.split(" (")[0] for line in found] == [
        "streamproc.ingest.scratch:1 imports streamproc.adapters.postgres",
        "streamproc.ingest.scratch:2 imports psycopg",
    ]
    assert violations("streamproc.newpart.scratch", scratch, known) == [
        "streamproc.newpart.scratch: in no layer of tests/repo/layers.py"
    ]


def test_no_import_cycle_between_modules_type_checking_imports_included() -> None:
    assert cycles(layers.graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_table_names_known_layers_and_has_no_cycle() -> None:
    names = [layer.name for layer in LAYERS]
    assert len(set(names)) == len(names)
    edges = {layer.name: set(layer.uses) for layer in LAYERS}
    assert {used for uses in edges.values() for used in uses} <= set(names)
    assert cycles(edges) == []


def test_package_inits_import_nothing_so_importing_a_module_runs_no_other_code() -> None:
    known = layers.modules()
    busy = {m: [i.target for i in layers.imports_of(m, p, known)] for m, p in known.items() if p.name == "__init__.py"}
    assert {m: targets for m, targets in busy.items() if targets} == {}


def test_the_bridge_reaches_only_shared_contract_and_kafka_transitively() -> None:
    edges = layers.graph()
    bridge = {m for m in edges if m.startswith("bridge.") or m == "bridge"}
    reached = reachable(edges, bridge) - bridge
    allowed = {"shared", "contract", "kafka", "kafka.resets"}
    layer_names = {m: getattr(layers.layer_of(m), "name", None) for m in reached - {"streamproc.__init__"}}
    assert {m: name for m, name in layer_names.items() if name not in allowed} == {}
    assert {"streamproc.shared.errors", "streamproc.contract.events", "streamproc.kafka.producer"} <= reached


PROBE = """
import importlib, json, sys
for name in {names!r}:
    importlib.import_module(name)
from streamproc.datasets.registry import load_registry
load_registry()
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


def _pure_modules() -> list[str]:
    return sorted(m.removesuffix(".__init__") for m in layers.modules() if (layer := layers.layer_of(m)) and layer.pure)


def test_importing_every_pure_module_loads_no_driver_or_framework() -> None:
    names = _pure_modules()
    assert {"streamproc.ingest.split", "streamproc.kafka.resets", "bridge.messages", "streamproc.web.pages"} <= set(
        names
    )
    # A fresh interpreter: this test process may already hold drivers imported by other tests.
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(names=names)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = set(json.loads(done.stdout))
    assert "streamproc" in loaded
    assert loaded.isdisjoint(layers.DRIVERS), sorted(loaded & layers.DRIVERS)


def test_the_readme_layout_table_is_the_layer_table() -> None:
    readme = (ROOT / "README.md").read_text()
    assert layers.markdown() in readme, "README's Layout table differs: paste `python -m tests.repo.layers`"


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name)
def test_each_layer_covers_modules_that_exist(layer: Layer) -> None:
    known = layers.modules()
    for prefix in layer.modules:
        assert any(m == prefix or m.startswith(prefix + ".") for m in known), prefix


def test_modules_stay_at_or_under_300_lines() -> None:
    long = {m: n for m, p in layers.modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_wheel_ships_the_worker_and_the_bridge_but_not_devstack() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    assert sorted(include) == ["bridge*", "streamproc*"]
    assert "devstack" not in config["tool"]["setuptools"].get("package-data", {})
