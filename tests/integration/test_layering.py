"""Dependencies point inward: the domain never imports the web framework, core imports no layer.

STYLE.md rule 1. The check reads every module's source with `ast`, so it sees
imports inside functions, under `TYPE_CHECKING`, relative imports and
`importlib.import_module("...")` / `__import__("...")` with a literal name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

WEB = ("flask", "werkzeug")
"""The framework; `flask_*` extensions count as flask."""

DOMAIN = (
    "lending", "payments", "reconciliation", "menus", "messaging", "ledger", "core", "savings",
    "insurance", "impact", "education",
)
LAYERS = (
    "gateway", "menus", "lending", "payments", "reconciliation", "messaging", "ledger", "savings",
    "insurance", "impact", "education",
)

RULES: dict[str, tuple[str, ...]] = {
    **{package: WEB for package in DOMAIN},
    "core": (*WEB, *LAYERS),
    # Insurance sits on lending and payments; they reach it only through their ports.
    "lending": (*WEB, "insurance"),
    "payments": (*WEB, "insurance"),
    "ledger": (*WEB, *(layer for layer in LAYERS if layer != "ledger")),
}
"""Package -> top-level names it must not import."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(source: str, module: str, *, is_package: bool = False) -> Iterator[
        tuple[int, str]]:
    """(line, absolute module name) for every import in `source`, however it is written."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:  # `from . import x` may name a module
                yield node.lineno, f"{target}.{alias.name}".lstrip(".")
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield node.lineno, first.value


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def forbidden(name: str, banned: tuple[str, ...]) -> bool:
    top = name.split(".")[0]
    return any(top == b or (b == "flask" and top.startswith("flask_")) for b in banned)


def violations(package: str, banned: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        module = module_name(path)
        source = path.read_text(encoding="utf-8")
        for line, name in imported_names(source, module, is_package=path.name == "__init__.py"):
            if forbidden(name, banned):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return sorted(set(found))


@pytest.mark.parametrize("package", sorted(RULES))
def test_package_keeps_to_its_layer(package: str) -> None:
    assert (ROOT / package / "__init__.py").exists(), f"{package}/ is not a package any more"
    assert violations(package, RULES[package]) == []


@pytest.mark.parametrize(("source", "module", "expected"), [
    ("import flask", "lending.loans", "flask"),
    ("from werkzeug.exceptions import NotFound", "payments.inbox", "werkzeug.exceptions"),
    ("def f():\n    from flask import request\n", "menus.engine", "flask"),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import flask_wtf\n",
     "messaging.inbound", "flask_wtf"),
    ("import importlib\nimportlib.import_module('gateway.database')", "core.jobs",
     "gateway.database"),
    ("__import__('flask')", "core.db", "flask"),
    ("from ..gateway import database", "core.jobs", "gateway"),
    ("from .. import gateway", "core.jobs", "gateway"),
])
def test_the_check_sees_every_way_of_importing(source: str, module: str, expected: str) -> None:
    names = [name for _, name in imported_names(source, module)]
    assert expected in names
    assert forbidden(expected, RULES[module.split(".")[0]])


def test_the_check_lets_allowed_imports_through() -> None:
    source = "import sqlalchemy\nfrom core.money import Money\nfrom . import models\n"
    names = [name for _, name in imported_names(source, "lending.loans")]
    assert not any(forbidden(n, RULES["lending"]) for n in names)
    assert "lending.models" in names


def test_the_check_reads_the_real_files() -> None:
    """gateway/ is the Flask package: the same walk must find its flask imports."""
    assert any("gateway/__init__.py" in v for v in violations("gateway", WEB))
