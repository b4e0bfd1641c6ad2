"""Which conformance tests name a clause: read from the suites' ``clause`` markers by
parsing the test files, so `ballast spec show` can answer without running pytest."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from ballast.paths import REPO_ROOT


def suites_dir() -> Path:
    return REPO_ROOT / "suites"


def tests_naming(clause_id: str, suites: Path | None = None) -> list[str]:
    """``path::test`` of every test whose clause marker names ``clause_id``."""
    root = suites or suites_dir()
    return [
        f"{path.relative_to(root.parent)}::{name}"
        for path in sorted(root.rglob("test_*.py"))
        for name, clauses in marked_tests(path)
        if clause_id in clauses
    ]


def marked_tests(path: Path) -> Iterator[tuple[str, list[str]]]:
    """(test function, the clause IDs its markers name, primary first) of one test file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            clauses = [
                arg.value
                for deco in node.decorator_list
                if isinstance(deco, ast.Call) and _is_clause_marker(deco.func)
                for arg in deco.args
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            ]
            if clauses:
                yield node.name, clauses


def _is_clause_marker(func: ast.expr) -> bool:
    """``pytest.mark.clause`` (or ``mark.clause``)."""
    return isinstance(func, ast.Attribute) and func.attr == "clause"
