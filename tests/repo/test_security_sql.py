"""All SQL the project sends is fixed text with parameters, COPY, or psycopg `sql` composition: an AST scan of
streamproc/ and bridge/ finds no SQL text built by f-string, `%`, `+` or `str.format`/`join`, nothing built that
way reaching `execute`, `executemany`, `copy` or `stream`, and `sql.SQL` composing only text fixed in code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SHIPPED = sorted(p for package in ("streamproc", "bridge") for p in (ROOT / package).rglob("*.py"))
SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|TRUNCATE|COPY|GRANT|FROM|WHERE|VALUES|SET)\b")
EXECUTORS = {"execute", "executemany", "copy", "stream"}
# sql.SQL(...) over text that is not a literal: each names where its text comes from (code, never data).
TRUSTED_SQL_TEXT = {
    ("streamproc/adapters/sink_sql.py", "c.pg_type"): "column types declared in the dataset modules",
    ("streamproc/adapters/sink_sql.py", "t"): "provenance column types, the PROVENANCE constant above it",
}


def constants(tree: ast.Module) -> dict[str, str]:
    """Module-level names bound to a string literal (SQL text kept in constants)."""
    found: dict[str, str] = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        target = node.target if isinstance(node, ast.AnnAssign) else target
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
            found[target.id] = value.value
    return found


def text_of(node: ast.expr, names: dict[str, str]) -> str:
    """The literal text an expression is built from (constants resolved), for recognising SQL."""
    if isinstance(node, ast.Constant):
        return node.value.decode(errors="replace") if isinstance(node.value, bytes) else str(node.value)
    if isinstance(node, ast.Name):
        return names.get(node.id, "")
    if isinstance(node, ast.JoinedStr):
        return " ".join(text_of(v, names) for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, ast.BinOp):
        return f"{text_of(node.left, names)} {text_of(node.right, names)}"
    return ""


def built_by_string_ops(node: ast.expr, names: dict[str, str]) -> str | None:
    """How `node` builds text with string operations, if it does."""
    if isinstance(node, ast.JoinedStr):
        return "an f-string"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return "`%`" if isinstance(node.op, ast.Mod) else "`+`"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in {"format", "join"}:
        receiver = node.func.value
        if isinstance(receiver, ast.Constant) or (isinstance(receiver, ast.Name) and receiver.id in names):
            return f"str.{node.func.attr}"
    return None


def is_sql_composable(node: ast.Call) -> bool:
    """`sql.SQL(...)` (psycopg's composable, whose text is trusted as is)."""
    func = node.func
    return isinstance(func, ast.Attribute) and func.attr == "SQL" and ast.unparse(func.value) == "sql"


def findings(source: str, where: str, trusted: dict[tuple[str, str], str] = TRUSTED_SQL_TEXT) -> list[str]:
    """Every way `source` builds SQL text outside psycopg's composition, or passes built text to the database."""
    tree = ast.parse(source)
    names = constants(tree)
    out: list[str] = []
    for node in ast.walk(tree):
        at = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.expr) and (how := built_by_string_ops(node, names)):
            receiver = node.func.value if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else node
            if SQL_WORDS.search(text_of(receiver, names)):
                out.append(f"{at}: SQL text built by {how}")
        if not isinstance(node, ast.Call) or not node.args:
            continue
        first, text = node.args[0], ast.unparse(node.args[0])
        executor = isinstance(node.func, ast.Attribute) and node.func.attr in EXECUTORS
        if executor and (how := built_by_string_ops(first, names)):
            out.append(f"{at}: {ast.unparse(node.func)}() gets text built by {how}")
        fixed = isinstance(first, ast.Constant) or text in names or (where, text) in trusted
        if is_sql_composable(node) and not fixed:
            out.append(f"{at}: sql.SQL() over text that is not fixed in code: {text}")
    return out


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_code_sends_sql_only_as_fixed_text_parameters_copy_or_composition(path: Path) -> None:
    where = str(path.relative_to(ROOT))
    assert findings(path.read_text(), where) == []


def test_the_scan_sees_the_database_calls_it_vouches_for() -> None:
    calls = [
        node.func.attr
        for path in SHIPPED
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in EXECUTORS
    ]
    assert calls.count("execute") >= 15
    assert {"executemany", "copy"} <= set(calls)
    untrusted = [f for p in SHIPPED for f in findings(p.read_text(), str(p.relative_to(ROOT)), trusted={})]
    assert all(any(f"{path}:" in f and f.endswith(f": {text}") for f in untrusted) for path, text in TRUSTED_SQL_TEXT)


BAD = """
from psycopg import sql
QUERY = "SELECT * FROM t WHERE id = {}"
async def f(conn, key, table):
    await conn.execute(f"SELECT * FROM t WHERE key = '{key}'")
    await conn.execute("DELETE FROM t WHERE key = '%s'" % key)
    await conn.execute("UPDATE t SET v = 1 WHERE key = '" + key + "'")
    await conn.execute(QUERY.format(key))
    await conn.execute("INSERT INTO t VALUES ({})".format(key))
    text = f"SELECT count(*) FROM {table}"
    await conn.execute(sql.SQL(text))
    await conn.execute(sql.SQL(f"DROP TABLE {table}"))
    await conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))  # fine
    await conn.execute("SELECT * FROM t WHERE key = %s", (key,))  # fine
"""


def test_the_scan_catches_each_way_of_building_sql_from_values() -> None:
    found = findings(BAD, "bad.py")
    assert {f.split(":")[1] for f in found} == {"5", "6", "7", "8", "9", "10", "11", "12"}
    assert any("sql.SQL() over text that is not fixed in code: text" in f for f in found)
