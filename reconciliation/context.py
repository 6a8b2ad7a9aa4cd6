"""What one run works on: its settings, its clock, and the rows still open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, exists
from sqlalchemy.orm import Session

from reconciliation.config import ReconConfig
from reconciliation.models import ReconItem, ReconMatch
from reconciliation.statements import COMPLETED, StatementLine


@dataclass(frozen=True)
class WorkArea:
    """Temporary tables the rules after `receipt` work in: only what is still open.

    After the receipt rule most of a statement is matched. Copying the rest
    (a few percent) aside lets every later rule join small tables and check
    "still open" against its own small table of new pairs, instead of anti-joining
    the whole statement against every match ever made, several times per rule.
    """

    lines: Table
    items: Table
    pairs: Table


@dataclass
class RunContext:
    session: Session
    run_id: int
    config: ReconConfig
    now: datetime
    area: WorkArea | None = None

    def seconds_ago(self, seconds: int) -> datetime:
        return self.now - timedelta(seconds=seconds)


def statement_lines(ctx: RunContext | None = None) -> Any:
    table = ctx.area.lines if ctx and ctx.area else StatementLine.__table__
    return table.alias("s")


def our_items(ctx: RunContext | None = None) -> Any:
    table = ctx.area.items if ctx and ctx.area else ReconItem.__table__
    return table.alias("i")


def pairs_table(ctx: RunContext | None) -> Any:
    return ctx.area.pairs if ctx and ctx.area else ReconMatch.__table__


def line_open(s: Any, ctx: RunContext | None = None) -> ColumnElement[bool]:
    """A completed statement line that no rule has paired yet."""
    pairs = pairs_table(ctx)
    paired = exists().where(pairs.c.statement_line_id == s.c.id)
    return and_(s.c.status == COMPLETED, ~paired)


def item_open(i: Any, ctx: RunContext | None = None) -> ColumnElement[bool]:
    """One of our items that no rule has paired yet and that is not a duplicate."""
    pairs = pairs_table(ctx)
    paired = exists().where(pairs.c.item_id == i.c.id)
    return and_(i.c.duplicate_of.is_(None), ~paired)
