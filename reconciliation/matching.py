"""Matching: statement lines paired with our items by rules tried in order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    MetaData,
    Select,
    Table,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.orm import Session

from core.db import UTCDateTime
from reconciliation.config import MATCHED, MISMATCH
from reconciliation.context import (
    RunContext,
    WorkArea,
    item_open,
    line_open,
    our_items,
    pairs_table,
    statement_lines,
)
from reconciliation.models import ReconItem, ReconMatch
from reconciliation.sql import analyze, rows_written
from reconciliation.statements import StatementLine

OPEN_LINES, OPEN_ITEMS, NEW_PAIRS = "recon_open_lines", "recon_open_items", "recon_new_pairs"


def _temp_table(name: str, like: Any, skip: tuple[str, ...] = ()) -> Table:
    return Table(name, MetaData(), *(Column(c.name, c.type) for c in like.c
                                     if c.name not in skip))


def _drop_temp(session: Session, name: str) -> None:
    # Schema-qualified, so that only ever a temporary table can be dropped here.
    schema = "pg_temp" if session.get_bind().dialect.name == "postgresql" else "temp"
    session.execute(text(f"DROP TABLE IF EXISTS {schema}.{name}"))


def _create_temp(session: Session, name: str, query: Select[Any]) -> None:
    dialect = session.get_bind().dialect
    compiled = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    _drop_temp(session, name)
    session.execute(text(f"CREATE TEMPORARY TABLE {name} AS {compiled}"))


def open_work_area(ctx: RunContext) -> int:
    """Copy the still-open lines and items into temporary tables for the later rules."""
    s, i, m = statement_lines(), our_items(), ReconMatch.__table__
    session = ctx.session
    session.flush()
    _create_temp(session, OPEN_LINES, select(s).where(line_open(s)))
    _create_temp(session, OPEN_ITEMS, select(i).where(item_open(i)))
    _create_temp(session, NEW_PAIRS, select(*(c for c in m.c if c.name != "id"))
                 .where(m.c.id.is_(None)))
    analyze(session, OPEN_LINES, OPEN_ITEMS, NEW_PAIRS)  # autovacuum never sees temp tables
    ctx.area = WorkArea(_temp_table(OPEN_LINES, StatementLine.__table__),
                         _temp_table(OPEN_ITEMS, ReconItem.__table__),
                         _temp_table(NEW_PAIRS, m, skip=("id",)))
    return 0


def close_work_area(ctx: RunContext) -> int:
    """Save the later rules' pairs as matches and drop the temporary tables."""
    if ctx.area is None:
        return 0
    pairs = ctx.area.pairs
    saved = rows_written(ctx.session, insert(ReconMatch).from_select(
        MATCH_COLUMNS, select(*(pairs.c[name] for name in MATCH_COLUMNS))))
    for name in (OPEN_LINES, OPEN_ITEMS, NEW_PAIRS):
        _drop_temp(ctx.session, name)
    ctx.area = None
    return saved


MATCH_COLUMNS = ("run_id", "statement_line_id", "item_id", "rule", "status", "statement_amount",
                 "item_amount", "created_at")


def _insert_matches(ctx: RunContext, rule: str, rows: Any, status: ColumnElement[str] | None = None
                    ) -> int:
    """Insert (s_id, i_id, s_amount, i_amount) rows of a subquery as matches of `rule`."""
    chosen = select(
        literal(ctx.run_id), rows.c.s_id, rows.c.i_id, literal(rule),
        status if status is not None else literal(MATCHED), rows.c.s_amount, rows.c.i_amount,
        literal(ctx.now, UTCDateTime()),
    )
    return rows_written(ctx.session,
                         insert(pairs_table(ctx)).from_select(MATCH_COLUMNS, chosen))


def match_by_receipt(ctx: RunContext) -> int:
    """Rule 1: the same receipt. A different amount is recorded as a mismatch."""
    s, i = statement_lines(), our_items()
    pairs = (
        select(s.c.id.label("s_id"), i.c.id.label("i_id"), s.c.amount.label("s_amount"),
               i.c.amount.label("i_amount"))
        .select_from(s.join(i, i.c.receipt == s.c.receipt))
        .where(line_open(s), item_open(i))
        .subquery("pairs")
    )
    status = case(
        (func.abs(pairs.c.s_amount - pairs.c.i_amount) <= ctx.config.amount_tolerance, MATCHED),
        else_=MISMATCH,
    )
    return _insert_matches(ctx, "receipt", pairs, status)


def _pair_best(ctx: RunContext, rule: str, candidates: Select[Any]) -> int:
    """Pair rows that are each other's best candidate; repeat while pairs are found.

    `candidates` yields s_id, i_id, s_amount, i_amount, d_amount, d_time.
    """
    total = 0
    for _ in range(ctx.config.pairing_passes):
        c = candidates.subquery("c")
        ranked = select(
            c,
            func.row_number().over(partition_by=c.c.s_id,
                                   order_by=(c.c.d_amount, c.c.d_time, c.c.i_id)).label("rs"),
            func.row_number().over(partition_by=c.c.i_id,
                                   order_by=(c.c.d_amount, c.c.d_time, c.c.s_id)).label("ri"),
        ).subquery("ranked")
        best = select(ranked).where(ranked.c.rs == 1, ranked.c.ri == 1).subquery("best")
        added = _insert_matches(ctx, rule, best)
        total += added
        if not added:
            break
    return total


def _candidates(ctx: RunContext, s: Any, i: Any, on: ColumnElement[bool], window: int,
                tolerance: int) -> Select[Any]:
    d_amount = func.abs(s.c.amount - i.c.amount)
    d_time = func.abs(s.c.completed_epoch - i.c.occurred_epoch)
    # Without a tolerance the amount is an equality the database can hash on.
    same_amount = s.c.amount == i.c.amount if tolerance == 0 else d_amount <= tolerance
    return (
        select(s.c.id.label("s_id"), i.c.id.label("i_id"), s.c.amount.label("s_amount"),
               i.c.amount.label("i_amount"), d_amount.label("d_amount"), d_time.label("d_time"))
        .select_from(s.join(i, and_(on, same_amount)))
        .where(line_open(s, ctx), item_open(i, ctx), d_time <= window,
               (s.c.amount > 0) == (i.c.amount > 0))
    )


def match_by_reference(ctx: RunContext) -> int:
    """Rule 2: our reference (what the payer typed as the account) and the amount."""
    s, i = statement_lines(ctx), our_items(ctx)
    on = and_(i.c.reference == s.c.account_reference, s.c.account_reference != "")
    return _pair_best(ctx, "reference", _candidates(
        ctx, s, i, on, ctx.config.reference_window_seconds, ctx.config.amount_tolerance))


def match_by_phone_and_time(ctx: RunContext) -> int:
    """Rule 3: the payer's phone, the amount, and a time window."""
    s, i = statement_lines(ctx), our_items(ctx)
    on = and_(i.c.phone_key == s.c.phone_key, s.c.phone_key.is_not(None))
    return _pair_best(ctx, "phone_time", _candidates(
        ctx, s, i, on, ctx.config.time_window_seconds, ctx.config.amount_tolerance))


GROUP_PAIRS = "recon_group_pairs"


def _group_match(ctx: RunContext, rule: str, one: str) -> int:
    """Rules 4–5: one row on side `one` paid by a whole group on the other side.

    A group is every open row on the other side with the same reference within
    `group_window` of the single row; it matches when it has two or more rows
    that sum to the single row's amount, and none of them is claimed by another
    qualifying group. The candidate pairs are computed once into a temporary
    table, because the grouping reads them four times.
    """
    s, i = statement_lines(ctx), our_items(ctx)
    on = and_(i.c.reference == s.c.account_reference, s.c.account_reference != "")
    candidates = _candidates(ctx, s, i, on, ctx.config.group_window_seconds, 10**15)
    _create_temp(ctx.session, GROUP_PAIRS, candidates)
    analyze(ctx.session, GROUP_PAIRS)
    table = Table(GROUP_PAIRS, MetaData(), *(Column(name, BigInteger) for name in
                                              ("s_id", "i_id", "s_amount", "i_amount")))
    try:
        return _insert_matches(ctx, rule, _uncontested_groups(ctx, table, one))
    finally:
        _drop_temp(ctx.session, GROUP_PAIRS)


def _uncontested_groups(ctx: RunContext, table: Table, one: str) -> Any:
    """The pairs of qualifying groups none of whose members another group claims."""
    def sides(pairs: Any) -> tuple[Any, Any]:
        return (pairs.c.s_id, pairs.c.i_id) if one == "line" else (pairs.c.i_id, pairs.c.s_id)

    p = table.alias("p")
    head, member = sides(p)
    head_amount = func.max(p.c.s_amount if one == "line" else p.c.i_amount)
    member_total = func.sum(p.c.i_amount if one == "line" else p.c.s_amount)
    groups = (select(head.label("head")).group_by(head)
              .having(func.count() >= 2,
                      func.abs(member_total - head_amount) <= ctx.config.amount_tolerance)
              .subquery("groups"))
    q = table.alias("q")
    q_head, q_member = sides(q)
    claims = (select(q_member.label("member"))
              .select_from(q.join(groups, groups.c.head == q_head))
              .group_by(q_member).having(func.count() > 1).subquery("claims"))
    r = table.alias("r")
    r_head, r_member = sides(r)
    contested_head = exists().select_from(r.join(claims, claims.c.member == r_member)).where(
        r_head == head)
    return (select(p.c.s_id, p.c.i_id, p.c.s_amount, p.c.i_amount)
            .select_from(p.join(groups, groups.c.head == head))
            .where(~contested_head).subquery("chosen"))


def match_one_to_many(ctx: RunContext) -> int:
    """Rule 4: one statement line covering several of our items."""
    return _group_match(ctx, "one_to_many", "line")


def match_many_to_one(ctx: RunContext) -> int:
    """Rule 5: several statement lines paying one of our items."""
    return _group_match(ctx, "many_to_one", "item")


MATCHERS = (
    ("receipt", match_by_receipt),
    ("reference", match_by_reference),
    ("phone_time", match_by_phone_and_time),
    ("one_to_many", match_one_to_many),
    ("many_to_one", match_many_to_one),
)
