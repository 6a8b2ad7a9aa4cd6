"""Menu adapters only translate: they call domain use cases and write no SQL of their own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ADAPTERS = sorted((ROOT / "menus").glob("*adapter*.py"))


def sql_used(path: Path) -> list[str]:
    """What an adapter takes from SQLAlchemy beyond the `Session` type it is handed."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            found += [f"{node.module}.{a.name}" for a in node.names if a.name != "Session"]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("sqlalchemy")]
    return found


def test_there_are_adapters_to_check() -> None:
    assert {p.name for p in ADAPTERS} >= {"adapters.py", "lender_adapter.py"}


@pytest.mark.parametrize("path", ADAPTERS, ids=lambda p: p.name)
def test_an_adapter_builds_no_queries(path: Path) -> None:
    assert sql_used(path) == []


def test_the_check_sees_a_query_builder(tmp_path: Path) -> None:
    adapter = tmp_path / "x_adapter.py"
    adapter.write_text("from sqlalchemy import func, select\nfrom sqlalchemy.orm import Session\n")
    assert sql_used(adapter) == ["sqlalchemy.func", "sqlalchemy.select"]
