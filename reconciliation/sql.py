"""Portable SQL pieces: the same statement text on PostgreSQL and SQLite."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import JSON, BigInteger, ColumnElement, String, cast, func, literal_column, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class epoch(FunctionElement[int]):  # noqa: N801 - reads as the SQL function it renders
    """Seconds since 1970 of a stored timestamp, on PostgreSQL and SQLite alike."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch"


@compiles(epoch, "postgresql")
def _epoch_pg(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS BIGINT)"


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


class json_object(FunctionElement[Any]):  # noqa: N801
    """A JSON object built in SQL: `json_object(amount=col, …)` with constant keys."""

    type = JSON()
    inherit_cache = False
    name = "json_object"

    def __init__(self, **pairs: Any) -> None:
        self.keys = list(pairs)
        super().__init__(*pairs.values())


def _json_pairs(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    values = [compiler.process(clause, **kw) for clause in element.clauses]
    return ", ".join(f"{const(key)}, {value}" for key, value in zip(element.keys, values,
                                                                       strict=True))


@compiles(json_object, "postgresql")
def _json_object_pg(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_build_object({_json_pairs(element, compiler, **kw)})"


@compiles(json_object, "sqlite")
def _json_object_sqlite(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_object({_json_pairs(element, compiler, **kw)})"


def const(value: str) -> str:
    """A string constant written into SQL (never user input: names and key prefixes only)."""
    if not re.fullmatch(r"[A-Za-z0-9_: +]*", value):
        raise ValueError(f"not a safe SQL constant: {value!r}")
    return f"'{value}'"


def text_const(value: str) -> ColumnElement[str]:
    # Rendered inline: PostgreSQL cannot type an untyped parameter beside `||`.
    return literal_column(const(value), String())


def sql_phone_key(phone: ColumnElement[str]) -> ColumnElement[str]:
    """The SQL twin of `reconciliation.statements.phone_key` for full E.164 numbers."""
    digits = func.replace(phone, text_const("+"), text_const(""), type_=String)
    head = func.substr(digits, 1, 5, type_=String)
    return head.concat(func.substr(digits, func.length(digits) - 2, 3, type_=String))


def sql_key(*parts: ColumnElement[Any] | str) -> ColumnElement[str]:
    """A dedupe key concatenated in SQL (`||` on every dialect)."""
    pieces = [text_const(p) if isinstance(p, str) else cast(p, String) for p in parts]
    result = pieces[0]
    for piece in pieces[1:]:
        result = result.concat(piece)
    return result


def analyze(session: Session, *tables: str) -> None:
    """Refresh the planner's statistics of tables that just grew by a whole statement.

    Autovacuum would get there eventually; until it does, PostgreSQL plans the
    joins below for empty tables (nested loops over a million rows).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.flush()
        session.execute(text(f"ANALYZE {', '.join(tables)}"))


def rows_written(session: Session, statement: Any) -> int:
    """Run a set-based INSERT/UPDATE on the session's connection; returns rows touched.

    Core execution on the connection, asking the driver to keep `rowcount`,
    which SQLAlchemy otherwise drops for INSERT … SELECT.
    """
    session.flush()
    result = session.connection().execute(
        statement.execution_options(preserve_rowcount=True))
    return max(result.rowcount, 0)
