"""The layout holds: SQL only in `core/storage/`, imports as DESIGN.md's folder table allows,
and no module of the product over ~400 lines.

Read from the source with `ast`, so a string or an import inside a function counts too.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# DESIGN.md's "may import" column; `tests` and `bench` may import anything.
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "actors": {"core", "configs"},
    "jobs": {"core", "actors", "configs"},
    "serve_app": {"core", "actors", "configs"},
    "cluster": {"core", "actors", "jobs", "serve_app", "configs", "sim"},
    "configs": {"core"},
    "sim": set(),
}
PRODUCT = sorted(MAY_IMPORT)
MAX_LINES = 400

# A statement, not prose: a keyword at the start followed by what that statement needs.
SQL = re.compile(
    r"^\s*(SELECT\s.+\sFROM\s|SELECT\s+[\w(]|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s"
    r"|WITH\s+\w+\s+AS\s*\(|CREATE\s+(TABLE|INDEX|UNIQUE|OR)\s|ALTER\s+TABLE\s|DROP\s+TABLE\s"
    r"|TRUNCATE\s|LOCK\s+TABLE\s)",
    re.DOTALL,
)


def modules(folder: str) -> Iterator[Path]:
    yield from sorted((ROOT / folder).rglob("*.py"))


def strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every string literal, and the literal parts of each f-string joined."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
            yield node.lineno, text


def docstrings(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                lines.add(body[0].value.lineno)
    return lines


def test_the_sql_pattern_tells_statements_from_prose() -> None:
    assert SQL.match("SELECT id FROM bars WHERE instrument_id = $1")
    assert SQL.match("\n  INSERT INTO job_runs (id) VALUES ($1) ON CONFLICT DO NOTHING")
    assert SQL.match("UPDATE job_runs SET status = $2")
    assert SQL.match("DELETE FROM llm_usage WHERE day < $1")
    assert SQL.match("SELECT pg_advisory_lock($1)")
    assert not SQL.match("Select the instruments to collect from the watchlist")
    assert not SQL.match("update the cache")
    assert not SQL.match("SELECT")


def sql_outside_storage() -> list[str]:
    found = []
    for folder in [*PRODUCT, "bench"]:
        for path in modules(folder):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(("core/storage/", "core/migrations/")):
                continue
            tree = ast.parse(path.read_text(), rel)
            skip = docstrings(tree)
            for line, text in strings(tree):
                if line not in skip and SQL.match(text):
                    found.append(f"{rel}:{line}: {text.strip().splitlines()[0][:60]}")
    return found


def test_sql_lives_only_in_core_storage() -> None:
    """Routes, actors, jobs, metrics, the gateway and the CLI reach the database through
    `core/storage/` repositories; bench's peers query Postgres directly on purpose."""
    found = [f for f in sql_outside_storage() if not f.startswith("bench/")]
    assert found == []


def imported_roots(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


@pytest.mark.parametrize("folder", PRODUCT)
def test_imports_follow_the_folder_table(folder: str) -> None:
    ours = set(PRODUCT) | {"bench", "tests"}
    wrong = []
    for path in modules(folder):
        rel = path.relative_to(ROOT).as_posix()
        for line, root in imported_roots(ast.parse(path.read_text(), rel)):
            if root in ours and root != folder and root not in MAY_IMPORT[folder]:
                wrong.append(f"{rel}:{line} imports {root}")
    assert wrong == []


def test_no_module_of_the_product_is_over_400_lines() -> None:
    long = []
    for folder in PRODUCT:
        for path in modules(folder):
            n = len(path.read_text().splitlines())
            if n > MAX_LINES:
                long.append(f"{path.relative_to(ROOT).as_posix()}: {n}")
    assert long == []
