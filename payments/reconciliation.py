"""Reconciliation: Mkopo's records against the provider's, matched in set-based SQL.

Three sources meet here. Our side is the payment intents and the ledger
(snapshotted into `recon_items`, one row per money movement we recorded), the
provider's callbacks sit in the inbox, and the provider's statement sits in
`statement_lines`. A run matches statement lines to items by rules tried in
order, each one `INSERT … SELECT` over every unmatched row at once (no Python
loop over rows):

1. `receipt` — the same M-Pesa receipt (a different amount is an
   `amount_mismatch`: the pair is recorded as a mismatch and a break opened);
2. `reference` — our reference (the loan reference the payer typed) and the
   amount, within `reference_window`;
3. `phone_time` — phone (first five and last three digits, all a statement
   shows), amount and a time window;
4. `one_to_many` / `many_to_one` — one statement line covering several items
   with the same reference (or several lines paying one item), when the whole
   group sums to the amount.

Amounts match within `amount_tolerance` minor units. Rules 2–3 pair rows
one-to-one by "mutual best candidate" (closest amount, then closest time), a
few passes so that a row that lost its best candidate can take its next.
Whatever is left becomes a break of a named type in payments'
`reconciliation_breaks`, deduplicated on its `dedupe_key`; breaks whose
subject was matched by a later run are closed automatically.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ColumnElement,
    MetaData,
    Select,
    String,
    Table,
    UniqueConstraint,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from core.clock import utcnow
from core.db import Base, BigId, JSONDict, MinorUnits, Timestamp, UTCDateTime, intpk
from ledger import MOBILE_MONEY_FLOAT, Account, JournalEntry, Posting
from payments.models import (
    AMOUNT_MISMATCH,
    CALLBACK_WITHOUT_INTENT,
    DUPLICATE,
    INTENT_WITHOUT_CALLBACK,
    LEDGER_WITHOUT_STATEMENT,
    OPEN,
    PAYOUTS,
    PENDING,
    REQUESTED,
    RESOLVED,
    REVERSAL,
    STALE_PENDING,
    STATEMENT_WITHOUT_LEDGER,
    SUCCEEDED,
    UNKNOWN,
    CallbackInbox,
    PaymentIntent,
    ReconciliationBreak,
)
from payments.statements import COMPLETED, StatementImport, StatementLine

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "reconciliation"
INTENT_SOURCE, LEDGER_SOURCE = "intent", "ledger"
MATCHED, MISMATCH = "matched", "mismatch"
RULES = ("receipt", "reference", "phone_time", "one_to_many", "many_to_one")
ADVISORY_LOCK = 7_000_001  # one reconciliation at a time (PostgreSQL advisory lock id)


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReconConfig:
    """Matching knobs; each can be set from `RECON_<NAME>` in the environment."""

    amount_tolerance: int = 0  # minor units
    time_window_seconds: int = 15 * 60
    reference_window_seconds: int = 7 * 86_400
    group_window_seconds: int = 86_400
    intent_grace_seconds: int = 3_600
    stale_after_seconds: int = 86_400
    orphan_grace_seconds: int = 900
    pairing_passes: int = 3
    currency: str = "KES"
    pg_work_mem: str = "64MB"  # per hash of the run's joins on PostgreSQL (SET LOCAL)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ReconConfig:
        """Read every knob from `RECON_…`, keeping defaults for the unset ones."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"RECON_{f.name.upper()}")
            if raw:
                values[f.name] = str(raw) if f.type in ("str", str) else int(raw)
        return cls(**values)


# --- tables ----------------------------------------------------------------------------------


class ReconItem(Base):
    """One money movement on our side, as reconciliation compares it (signed: in > 0)."""

    __tablename__ = "recon_items"
    __table_args__ = (
        UniqueConstraint("source", "source_id"),
    )

    id: Mapped[intpk]
    source: Mapped[str] = mapped_column(String(12))
    source_id: Mapped[int] = mapped_column(BigInteger)
    receipt: Mapped[str | None] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(40), default="")
    phone_key: Mapped[str | None] = mapped_column(String(8))
    amount: Mapped[MinorUnits]
    occurred_at: Mapped[Timestamp]
    occurred_epoch: Mapped[int] = mapped_column(BigInteger)
    intent_id: Mapped[int | None] = mapped_column(BigInteger)
    journal_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    loan_id: Mapped[int | None] = mapped_column(BigInteger)
    duplicate_of: Mapped[int | None] = mapped_column(BigInteger)


class ReconRun(Base):
    """One run of the engine: when, by whom, with which settings, and what it found."""

    __tablename__ = "recon_runs"

    id: Mapped[intpk]
    actor: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[Timestamp]
    finished_at: Mapped[datetime | None]
    settings: Mapped[JSONDict] = mapped_column(default=dict)
    counts: Mapped[JSONDict] = mapped_column(default=dict)


class ReconMatch(Base):
    """A statement line paired with one of our items, by a named rule."""

    __tablename__ = "recon_matches"
    __table_args__ = (
        UniqueConstraint("statement_line_id", "item_id"),
    )

    id: Mapped[intpk]
    # Plain ids, no foreign keys: a run inserts a million pairs at once, and a
    # foreign-key check per row would double its time (docs/reconciliation.md).
    run_id: Mapped[int] = mapped_column(BigId)
    statement_line_id: Mapped[int] = mapped_column(BigId)
    item_id: Mapped[int] = mapped_column(BigId)
    rule: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    statement_amount: Mapped[MinorUnits]
    item_amount: Mapped[MinorUnits]
    created_at: Mapped[Timestamp]


# --- portable SQL pieces ---------------------------------------------------------------------


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


def _phone_key(phone: ColumnElement[str]) -> ColumnElement[str]:
    """The SQL twin of `payments.statements.phone_key` for full E.164 numbers."""
    digits = func.replace(phone, text_const("+"), text_const(""), type_=String)
    head = func.substr(digits, 1, 5, type_=String)
    return head.concat(func.substr(digits, func.length(digits) - 2, 3, type_=String))


def _key(*parts: ColumnElement[Any] | str) -> ColumnElement[str]:
    """A dedupe key concatenated in SQL (`||` on every dialect)."""
    pieces = [text_const(p) if isinstance(p, str) else cast(p, String) for p in parts]
    result = pieces[0]
    for piece in pieces[1:]:
        result = result.concat(piece)
    return result


# --- the run ---------------------------------------------------------------------------------


@dataclass
class RunSummary:
    """What one run did: matches per rule, new breaks per type, breaks closed."""

    run_id: int
    items_added: int = 0
    matched: dict[str, int] = field(default_factory=dict)
    breaks: dict[str, int] = field(default_factory=dict)
    closed: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Stopwatch:
    """Times each step of a run, so a slow rule shows up in the run's record."""

    record: dict[str, float]

    def time(self, name: str, step: Callable[..., int], *args: Any) -> int:
        started = time.perf_counter()
        result = step(*args)
        self.record[name] = round(time.perf_counter() - started, 3)
        return result


def reconcile(
    session: Session, *, actor: str = SYSTEM_ACTOR, config: ReconConfig | None = None,
    now: datetime | None = None,
) -> RunSummary:
    """Match everything that can be matched and open a break for the rest.

    Runs in the caller's transaction; a second run over the same data adds nothing.
    """
    config = config or ReconConfig.from_env()
    now = now or utcnow()
    _take_lock(session)
    _tune_planner(session, config)
    run = ReconRun(actor=actor[:200], started_at=now, settings=asdict(config), counts={})
    session.add(run)
    session.flush()
    summary = RunSummary(run_id=run.id)
    clock = _Stopwatch(summary.seconds)
    summary.items_added = clock.time("snapshot", snapshot_items, session)
    _analyze(session, "statement_lines", "recon_matches")  # recon_items: in the snapshot
    ctx = _Context(session, run.id, config, now)
    for rule, matcher in MATCHERS:
        summary.matched[rule] = clock.time(rule, matcher, ctx)
        if rule == "receipt":
            _analyze(session, "recon_matches")  # it just grew by most of the statement
            clock.time("work_area", open_work_area, ctx)
    clock.time("save_pairs", close_work_area, ctx)
    # Before new breaks are opened: only breaks from earlier runs can have been cleared.
    summary.closed = clock.time("close_cleared", close_cleared_breaks, ctx)
    for type_, finder in BREAK_FINDERS:
        summary.breaks[type_] = clock.time(type_, finder, ctx)
    run.finished_at, run.counts = utcnow(), summary.to_json()
    session.flush()
    logger.info("reconciliation run %s: %s", run.id, summary.to_json())
    return summary


def _analyze(session: Session, *tables: str) -> None:
    """Refresh the planner's statistics of tables that just grew by a whole statement.

    Autovacuum would get there eventually; until it does, PostgreSQL plans the
    joins below for empty tables (nested loops over a million rows).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.flush()
        session.execute(text(f"ANALYZE {', '.join(tables)}"))


def _tune_planner(session: Session, config: ReconConfig) -> None:
    """Hash joins for the rest of this transaction, with the memory to keep them in RAM.

    Each rule inserts into the table its anti-join reads. Planned as a nested
    loop over a table that looked empty when the run began, the inner side is
    rescanned as it grows — quadratic. A hash anti-join hashes the table once,
    before the first row is written. JIT is off: these are a dozen big but
    simple statements, and compiling each costs more than it saves. All three
    settings are `SET LOCAL`: they end with the caller's transaction.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text("SELECT set_config('enable_nestloop', 'off', true), "
                         "set_config('jit', 'off', true), "
                         "set_config('work_mem', :work_mem, true)"),
                    {"work_mem": config.pg_work_mem})


def _take_lock(session: Session) -> None:
    """Serialise runs: two at once would pair the same rows twice."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})


@dataclass(frozen=True)
class _WorkArea:
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
class _Context:
    session: Session
    run_id: int
    config: ReconConfig
    now: datetime
    area: _WorkArea | None = None

    def seconds_ago(self, seconds: int) -> datetime:
        return self.now - timedelta(seconds=seconds)


# --- our side: the snapshot ------------------------------------------------------------------


def snapshot_items(session: Session) -> int:
    """Copy money movements recorded since the last run into `recon_items`; returns how many."""
    before = session.scalar(select(func.coalesce(func.max(ReconItem.id), 0))) or 0
    added = _insert_items(session, _settled_intents())
    added += _insert_items(session, _receipted_entries())
    if added:
        _mark_duplicates(session, before)
    return added


ITEM_COLUMNS = ("source", "source_id", "receipt", "reference", "phone_key", "amount",
                "occurred_at", "occurred_epoch", "intent_id", "journal_entry_id", "loan_id")


def _insert_items(session: Session, rows: Select[Any]) -> int:
    return _rows_written(session, insert(ReconItem).from_select(ITEM_COLUMNS, rows))


def _rows_written(session: Session, statement: Any) -> int:
    """Run a set-based INSERT/UPDATE on the session's connection; returns rows touched.

    Core execution on the connection, asking the driver to keep `rowcount`,
    which SQLAlchemy otherwise drops for INSERT … SELECT.
    """
    session.flush()
    result = session.connection().execute(
        statement.execution_options(preserve_rowcount=True))
    return max(result.rowcount, 0)


def _settled_intents() -> Select[Any]:
    """Intents M-Pesa confirmed: collections in (+), payouts and reversals out (-)."""
    pi = PaymentIntent.__table__.alias("pi")
    occurred = func.coalesce(pi.c.settled_at, pi.c.created_at)
    signed = case((pi.c.kind.in_((*PAYOUTS, REVERSAL)), -pi.c.amount), else_=pi.c.amount)
    seen = exists().where(ReconItem.source == INTENT_SOURCE, ReconItem.source_id == pi.c.id)
    return select(
        literal(INTENT_SOURCE), pi.c.id, pi.c.receipt, func.upper(pi.c.reference),
        _phone_key(pi.c.phone), signed, occurred, epoch(occurred), pi.c.id,
        cast(null(), BigInteger), pi.c.loan_id,
    ).where(pi.c.status == SUCCEEDED, pi.c.receipt.is_not(None), ~seen)


def _receipted_entries() -> Select[Any]:
    """Ledger entries that moved the float under a receipt no settled intent carries.

    C2B payments (repayments by paybill, money parked in suspense) reach the
    ledger without an intent; their entries carry the receipt in `meta`.
    """
    entry = JournalEntry.__table__.alias("je")
    posting = Posting.__table__.alias("lp")
    account = Account.__table__.alias("la")
    receipt = entry.c.meta["receipt"].as_string()
    reference = func.coalesce(entry.c.meta["loan_reference"].as_string(), "")
    by_intent = exists().where(PaymentIntent.receipt == receipt,
                               PaymentIntent.status == SUCCEEDED)
    seen = exists().where(ReconItem.source == LEDGER_SOURCE, ReconItem.source_id == entry.c.id)
    return (
        select(literal(LEDGER_SOURCE), entry.c.id, receipt, func.upper(reference),
               cast(null(), String), posting.c.amount, entry.c.occurred_at,
               epoch(entry.c.occurred_at), cast(null(), BigInteger), entry.c.id, entry.c.loan_id)
        .select_from(entry.join(posting, posting.c.entry_id == entry.c.id)
                     .join(account, account.c.id == posting.c.account_id))
        .where(account.c.code == MOBILE_MONEY_FLOAT.code, receipt.is_not(None),
               entry.c.reverses_id.is_(None), ~by_intent, ~seen)
    )


def _mark_duplicates(session: Session, after_id: int) -> None:
    """A receipt recorded twice on our side: later copies point at the first."""
    _analyze(session, "recon_items")
    fresh = select(ReconItem.receipt).where(ReconItem.id > after_id,
                                           ReconItem.receipt.is_not(None))
    first = ReconItem.__table__.alias("first")
    repeated = (select(first.c.receipt, func.min(first.c.id).label("first_id"))
                .where(first.c.receipt.in_(fresh))
                .group_by(first.c.receipt).having(func.count() > 1)
                .subquery("repeated"))
    _rows_written(session, update(ReconItem)
                  .where(ReconItem.receipt == repeated.c.receipt,
                         ReconItem.id > repeated.c.first_id, ReconItem.id > after_id)
                  .values(duplicate_of=repeated.c.first_id))


# --- matching --------------------------------------------------------------------------------


def _lines(ctx: _Context | None = None) -> Any:
    table = ctx.area.lines if ctx and ctx.area else StatementLine.__table__
    return table.alias("s")


def _items(ctx: _Context | None = None) -> Any:
    table = ctx.area.items if ctx and ctx.area else ReconItem.__table__
    return table.alias("i")


def _pairs_table(ctx: _Context | None) -> Any:
    return ctx.area.pairs if ctx and ctx.area else ReconMatch.__table__


def _line_open(s: Any, ctx: _Context | None = None) -> ColumnElement[bool]:
    """A completed statement line that no rule has paired yet."""
    pairs = _pairs_table(ctx)
    paired = exists().where(pairs.c.statement_line_id == s.c.id)
    return and_(s.c.status == COMPLETED, ~paired)


def _item_open(i: Any, ctx: _Context | None = None) -> ColumnElement[bool]:
    """One of our items that no rule has paired yet and that is not a duplicate."""
    pairs = _pairs_table(ctx)
    paired = exists().where(pairs.c.item_id == i.c.id)
    return and_(i.c.duplicate_of.is_(None), ~paired)


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


def open_work_area(ctx: _Context) -> int:
    """Copy the still-open lines and items into temporary tables for the later rules."""
    s, i, m = _lines(), _items(), ReconMatch.__table__
    session = ctx.session
    session.flush()
    _create_temp(session, OPEN_LINES, select(s).where(_line_open(s)))
    _create_temp(session, OPEN_ITEMS, select(i).where(_item_open(i)))
    _create_temp(session, NEW_PAIRS, select(*(c for c in m.c if c.name != "id"))
                 .where(m.c.id.is_(None)))
    _analyze(session, OPEN_LINES, OPEN_ITEMS, NEW_PAIRS)  # autovacuum never sees temp tables
    ctx.area = _WorkArea(_temp_table(OPEN_LINES, StatementLine.__table__),
                         _temp_table(OPEN_ITEMS, ReconItem.__table__),
                         _temp_table(NEW_PAIRS, m, skip=("id",)))
    return 0


def close_work_area(ctx: _Context) -> int:
    """Save the later rules' pairs as matches and drop the temporary tables."""
    if ctx.area is None:
        return 0
    pairs = ctx.area.pairs
    saved = _rows_written(ctx.session, insert(ReconMatch).from_select(
        MATCH_COLUMNS, select(*(pairs.c[name] for name in MATCH_COLUMNS))))
    for name in (OPEN_LINES, OPEN_ITEMS, NEW_PAIRS):
        _drop_temp(ctx.session, name)
    ctx.area = None
    return saved


MATCH_COLUMNS = ("run_id", "statement_line_id", "item_id", "rule", "status", "statement_amount",
                 "item_amount", "created_at")


def _insert_matches(ctx: _Context, rule: str, rows: Any, status: ColumnElement[str] | None = None
                    ) -> int:
    """Insert (s_id, i_id, s_amount, i_amount) rows of a subquery as matches of `rule`."""
    chosen = select(
        literal(ctx.run_id), rows.c.s_id, rows.c.i_id, literal(rule),
        status if status is not None else literal(MATCHED), rows.c.s_amount, rows.c.i_amount,
        literal(ctx.now, UTCDateTime()),
    )
    return _rows_written(ctx.session,
                         insert(_pairs_table(ctx)).from_select(MATCH_COLUMNS, chosen))


def match_by_receipt(ctx: _Context) -> int:
    """Rule 1: the same receipt. A different amount is recorded as a mismatch."""
    s, i = _lines(), _items()
    pairs = (
        select(s.c.id.label("s_id"), i.c.id.label("i_id"), s.c.amount.label("s_amount"),
               i.c.amount.label("i_amount"))
        .select_from(s.join(i, i.c.receipt == s.c.receipt))
        .where(_line_open(s), _item_open(i))
        .subquery("pairs")
    )
    status = case(
        (func.abs(pairs.c.s_amount - pairs.c.i_amount) <= ctx.config.amount_tolerance, MATCHED),
        else_=MISMATCH,
    )
    return _insert_matches(ctx, "receipt", pairs, status)


def _pair_best(ctx: _Context, rule: str, candidates: Select[Any]) -> int:
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


def _candidates(ctx: _Context, s: Any, i: Any, on: ColumnElement[bool], window: int,
                tolerance: int) -> Select[Any]:
    d_amount = func.abs(s.c.amount - i.c.amount)
    d_time = func.abs(s.c.completed_epoch - i.c.occurred_epoch)
    # Without a tolerance the amount is an equality the database can hash on.
    same_amount = s.c.amount == i.c.amount if tolerance == 0 else d_amount <= tolerance
    return (
        select(s.c.id.label("s_id"), i.c.id.label("i_id"), s.c.amount.label("s_amount"),
               i.c.amount.label("i_amount"), d_amount.label("d_amount"), d_time.label("d_time"))
        .select_from(s.join(i, and_(on, same_amount)))
        .where(_line_open(s, ctx), _item_open(i, ctx), d_time <= window,
               (s.c.amount > 0) == (i.c.amount > 0))
    )


def match_by_reference(ctx: _Context) -> int:
    """Rule 2: our reference (what the payer typed as the account) and the amount."""
    s, i = _lines(ctx), _items(ctx)
    on = and_(i.c.reference == s.c.account_reference, s.c.account_reference != "")
    return _pair_best(ctx, "reference", _candidates(
        ctx, s, i, on, ctx.config.reference_window_seconds, ctx.config.amount_tolerance))


def match_by_phone_and_time(ctx: _Context) -> int:
    """Rule 3: the payer's phone, the amount, and a time window."""
    s, i = _lines(ctx), _items(ctx)
    on = and_(i.c.phone_key == s.c.phone_key, s.c.phone_key.is_not(None))
    return _pair_best(ctx, "phone_time", _candidates(
        ctx, s, i, on, ctx.config.time_window_seconds, ctx.config.amount_tolerance))


GROUP_PAIRS = "recon_group_pairs"


def _group_match(ctx: _Context, rule: str, one: str) -> int:
    """Rules 4–5: one row on side `one` paid by a whole group on the other side.

    A group is every open row on the other side with the same reference within
    `group_window` of the single row; it matches when it has two or more rows
    that sum to the single row's amount, and none of them is claimed by another
    qualifying group. The candidate pairs are computed once into a temporary
    table, because the grouping reads them four times.
    """
    s, i = _lines(ctx), _items(ctx)
    on = and_(i.c.reference == s.c.account_reference, s.c.account_reference != "")
    candidates = _candidates(ctx, s, i, on, ctx.config.group_window_seconds, 10**15)
    _create_temp(ctx.session, GROUP_PAIRS, candidates)
    _analyze(ctx.session, GROUP_PAIRS)
    table = Table(GROUP_PAIRS, MetaData(), *(Column(name, BigInteger) for name in
                                              ("s_id", "i_id", "s_amount", "i_amount")))
    try:
        return _insert_matches(ctx, rule, _uncontested_groups(ctx, table, one))
    finally:
        _drop_temp(ctx.session, GROUP_PAIRS)


def _uncontested_groups(ctx: _Context, table: Table, one: str) -> Any:
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


def match_one_to_many(ctx: _Context) -> int:
    """Rule 4: one statement line covering several of our items."""
    return _group_match(ctx, "one_to_many", "line")


def match_many_to_one(ctx: _Context) -> int:
    """Rule 5: several statement lines paying one of our items."""
    return _group_match(ctx, "many_to_one", "item")


MATCHERS = (
    ("receipt", match_by_receipt),
    ("reference", match_by_reference),
    ("phone_time", match_by_phone_and_time),
    ("one_to_many", match_one_to_many),
    ("many_to_one", match_many_to_one),
)


# --- breaks ----------------------------------------------------------------------------------

BREAK_COLUMNS = ("type", "status", "dedupe_key", "amount", "currency", "receipt", "phone",
                 "intent_id", "inbox_id", "loan_id", "journal_entry_id", "details", "created_at")


def _open_breaks(ctx: _Context, type_: str, rows: Select[Any]) -> int:
    """Insert a break for each row not already recorded under its dedupe key.

    `rows` yields key, amount, receipt, phone, intent_id, inbox_id, loan_id,
    journal_entry_id, details (a JSON object); keys must be distinct.
    """
    r = rows.subquery("r")
    known = exists().where(ReconciliationBreak.dedupe_key == r.c.key)
    chosen = select(
        literal(type_), literal(OPEN), r.c.key, r.c.amount, literal(ctx.config.currency),
        r.c.receipt, r.c.phone, r.c.intent_id, r.c.inbox_id, r.c.loan_id, r.c.journal_entry_id,
        r.c.details, literal(ctx.now, UTCDateTime()),
    ).where(~known)
    return _rows_written(ctx.session,
                         insert(ReconciliationBreak).from_select(BREAK_COLUMNS, chosen))


def _break_row(key: ColumnElement[str], *, amount: Any = None, receipt: Any = None,
               phone: Any = None, intent_id: Any = None, inbox_id: Any = None,
               loan_id: Any = None, journal_entry_id: Any = None,
               details: ColumnElement[Any]) -> list[Any]:
    """The columns `_open_breaks` expects, with typed NULLs for what a type lacks."""

    def number(value: Any) -> Any:
        return cast(null(), BigInteger) if value is None else value

    def word(value: Any) -> Any:
        return cast(null(), String) if value is None else value

    return [
        key.label("key"), number(amount).label("amount"), word(receipt).label("receipt"),
        word(phone).label("phone"), number(intent_id).label("intent_id"),
        number(inbox_id).label("inbox_id"), number(loan_id).label("loan_id"),
        number(journal_entry_id).label("journal_entry_id"), details.label("details"),
    ]


def find_amount_mismatches(ctx: _Context) -> int:
    """The same receipt on both sides with amounts further apart than the tolerance."""
    s, i = _lines(), _items()
    m = ReconMatch.__table__.alias("m")
    rows = (
        select(*_break_row(
            _key(f"{AMOUNT_MISMATCH}:receipt:", s.c.receipt), amount=s.c.amount,
            receipt=s.c.receipt, intent_id=i.c.intent_id, loan_id=i.c.loan_id,
            journal_entry_id=i.c.journal_entry_id,
            details=json_object(statement_amount=s.c.amount, ledger_amount=i.c.amount,
                                difference=s.c.amount - i.c.amount,
                                statement_line_id=s.c.id, item_id=i.c.id)))
        .select_from(m.join(s, s.c.id == m.c.statement_line_id).join(i, i.c.id == m.c.item_id))
        .where(m.c.status == MISMATCH)
    )
    return _open_breaks(ctx, AMOUNT_MISMATCH, rows)


def find_duplicates(ctx: _Context) -> int:
    """A receipt recorded more than once on our side (a double credit or payout)."""
    i = _items()
    rows = (
        select(*_break_row(
            _key(f"{DUPLICATE}:receipt:", i.c.receipt), amount=func.max(i.c.amount),
            receipt=i.c.receipt, loan_id=func.max(i.c.loan_id),
            journal_entry_id=func.max(i.c.journal_entry_id),
            details=json_object(copies=func.count() + 1,
                                first_item_id=func.min(i.c.duplicate_of))))
        .where(i.c.duplicate_of.is_not(None))
        .group_by(i.c.receipt)
    )
    return _open_breaks(ctx, DUPLICATE, rows)


def find_statement_without_ledger(ctx: _Context) -> int:
    """Provider lines that match nothing of ours (money we never booked)."""
    s = _lines()
    rows = select(*_break_row(
        _key(f"{STATEMENT_WITHOUT_LEDGER}:line:", s.c.receipt), amount=s.c.amount,
        receipt=s.c.receipt, phone=func.substr(s.c.party_phone, 1, 16),
        details=json_object(statement_line_id=s.c.id, account_reference=s.c.account_reference,
                            completed_epoch=s.c.completed_epoch,
                            direction=case((s.c.amount > 0, text_const("in")),
                                           else_=text_const("out"))),
    )).where(_line_open(s))
    return _open_breaks(ctx, STATEMENT_WITHOUT_LEDGER, rows)


def find_ledger_without_statement(ctx: _Context) -> int:
    """Our movements inside a statement's period that the statement does not show.

    Only items at least one time window before the end of an imported period
    count: the provider may complete a payment a little after we recorded it.
    """
    i = _items()
    periods = statement_periods(ctx.session, ctx.config.time_window_seconds)
    if not periods:
        return 0
    covered = or_(*(i.c.occurred_epoch.between(first, last) for first, last in periods))
    rows = select(*_break_row(
        _key(f"{LEDGER_WITHOUT_STATEMENT}:item:", i.c.source, ":", i.c.source_id),
        amount=i.c.amount, receipt=i.c.receipt, intent_id=i.c.intent_id, loan_id=i.c.loan_id,
        journal_entry_id=i.c.journal_entry_id,
        details=json_object(item_id=i.c.id, source=i.c.source, reference=i.c.reference),
    )).where(_item_open(i), covered)
    return _open_breaks(ctx, LEDGER_WITHOUT_STATEMENT, rows)


def statement_periods(session: Session, margin: int) -> list[tuple[int, int]]:
    """The epochs the imported statements cover, overlapping periods merged.

    Each period ends `margin` seconds early: the provider may complete a payment
    a little after we recorded it, and it would then be on the next statement.
    """
    rows = session.execute(select(StatementImport.first_epoch, StatementImport.last_epoch)
                           .where(StatementImport.first_epoch.is_not(None))
                           .order_by(StatementImport.first_epoch)).all()
    merged: list[tuple[int, int]] = []
    for first, last in ((int(a), int(b)) for a, b in rows if a is not None and b is not None):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return [(first, last - margin) for first, last in merged if last - margin >= first]


def _callback_for(intent: Any) -> ColumnElement[bool]:
    """Whether the inbox holds a callback for this intent (STK or B2C result)."""
    return exists().where(or_(
        and_(CallbackInbox.kind == "stk",
             CallbackInbox.external_id == intent.c.checkout_request_id),
        and_(CallbackInbox.kind.in_(("b2c_result", "b2c_timeout", "reversal_result")),
             CallbackInbox.external_id.in_((intent.c.originator_conversation_id,
                                            intent.c.conversation_id))),
    ))


WAITING = (PENDING, REQUESTED, UNKNOWN)


def find_intents_without_callback(ctx: _Context) -> int:
    """Requests sent to M-Pesa, past their deadline, with no callback stored at all."""
    pi = PaymentIntent.__table__.alias("pi")
    sent = or_(pi.c.checkout_request_id.is_not(None),
               pi.c.originator_conversation_id.is_not(None))
    rows = select(*_break_row(
        _key(f"{INTENT_WITHOUT_CALLBACK}:intent:", pi.c.id), amount=pi.c.amount,
        intent_id=pi.c.id, loan_id=pi.c.loan_id,
        details=json_object(kind=pi.c.kind, status=pi.c.status, reference=pi.c.reference),
    )).where(pi.c.status.in_(WAITING), sent,
             pi.c.deadline_at < ctx.seconds_ago(ctx.config.intent_grace_seconds),
             ~_callback_for(pi))
    return _open_breaks(ctx, INTENT_WITHOUT_CALLBACK, rows)


def find_stale_pending(ctx: _Context) -> int:
    """Intents still unsettled long after a callback arrived for them."""
    pi = PaymentIntent.__table__.alias("pi")
    rows = select(*_break_row(
        _key(f"{STALE_PENDING}:intent:", pi.c.id), amount=pi.c.amount, intent_id=pi.c.id,
        loan_id=pi.c.loan_id,
        details=json_object(kind=pi.c.kind, status=pi.c.status, reference=pi.c.reference),
    )).where(pi.c.status.in_(WAITING),
             pi.c.created_at < ctx.seconds_ago(ctx.config.stale_after_seconds),
             _callback_for(pi))
    return _open_breaks(ctx, STALE_PENDING, rows)


def find_callbacks_without_intent(ctx: _Context) -> int:
    """STK and B2C results that name no intent of ours, after a grace period."""
    cb = CallbackInbox.__table__.alias("cb")
    known = exists().where(or_(
        PaymentIntent.checkout_request_id == cb.c.external_id,
        PaymentIntent.originator_conversation_id == cb.c.external_id,
        PaymentIntent.conversation_id == cb.c.external_id,
    ))
    rows = select(*_break_row(
        _key(f"{CALLBACK_WITHOUT_INTENT}:inbox:", cb.c.id), inbox_id=cb.c.id,
        details=json_object(kind=cb.c.kind, external_id=cb.c.external_id),
    )).where(cb.c.kind.in_(("stk", "b2c_result")), ~cb.c.external_id.startswith("unreadable:"),
             cb.c.received_at < ctx.seconds_ago(ctx.config.orphan_grace_seconds), ~known)
    return _open_breaks(ctx, CALLBACK_WITHOUT_INTENT, rows)


BREAK_FINDERS = (
    (AMOUNT_MISMATCH, find_amount_mismatches),
    (DUPLICATE, find_duplicates),
    (STATEMENT_WITHOUT_LEDGER, find_statement_without_ledger),
    (LEDGER_WITHOUT_STATEMENT, find_ledger_without_statement),
    (INTENT_WITHOUT_CALLBACK, find_intents_without_callback),
    (STALE_PENDING, find_stale_pending),
    (CALLBACK_WITHOUT_INTENT, find_callbacks_without_intent),
)


def close_cleared_breaks(ctx: _Context) -> int:
    """Close open breaks whose statement line or item this run has matched.

    Only this run's pairs are looked at: a pair made earlier would have cleared
    its break in its own run, so each run's work stays in proportion to its news.
    """
    rb = ReconciliationBreak
    clearable = (STATEMENT_WITHOUT_LEDGER, LEDGER_WITHOUT_STATEMENT, INTENT_WITHOUT_CALLBACK,
                 STALE_PENDING)
    if not ctx.session.scalar(select(exists().where(rb.status == OPEN,
                                                    rb.type.in_(clearable)))):
        return 0  # a first run over a big statement: nothing to clear, nothing to hash
    m, s, i = ReconMatch.__table__.alias("m"), _lines(), _items()
    new_pairs = and_(m.c.run_id == ctx.run_id, m.c.status == MATCHED)
    lines = (select(s.c.receipt).select_from(m.join(s, s.c.id == m.c.statement_line_id))
             .where(new_pairs))
    items = select(i.c.intent_id, i.c.journal_entry_id).select_from(
        m.join(i, i.c.id == m.c.item_id)).where(new_pairs).subquery("items")
    by_intent = select(items.c.intent_id).where(items.c.intent_id.is_not(None))
    by_entry = select(items.c.journal_entry_id).where(items.c.journal_entry_id.is_not(None))
    settled = exists().where(PaymentIntent.id == rb.intent_id,
                             PaymentIntent.status.not_in(WAITING))
    cleared = or_(
        and_(rb.type == STATEMENT_WITHOUT_LEDGER, rb.receipt.in_(lines)),
        and_(rb.type == LEDGER_WITHOUT_STATEMENT,
             or_(rb.intent_id.in_(by_intent), rb.journal_entry_id.in_(by_entry))),
        and_(rb.type.in_((INTENT_WITHOUT_CALLBACK, STALE_PENDING)), settled),
    )
    closed = _rows_written(ctx.session, update(rb).where(rb.status == OPEN, cleared).values(
        status=RESOLVED, resolved_at=ctx.now, resolved_by=SYSTEM_ACTOR,
        resolution=f"cleared by reconciliation run {ctx.run_id}",
    ))
    if closed:
        ctx.session.expire_all()  # breaks loaded before the UPDATE must be read again
    return closed


# --- reading ---------------------------------------------------------------------------------


def last_run(session: Session) -> ReconRun | None:
    return session.scalar(select(ReconRun).order_by(ReconRun.id.desc()).limit(1))


def match_counts(session: Session) -> dict[str, int]:
    """How many pairs each rule has made, over all runs."""
    rows = session.execute(select(ReconMatch.rule, func.count()).group_by(ReconMatch.rule))
    return {rule: int(n) for rule, n in rows}


def unmatched_lines(session: Session, limit: int = 100) -> list[StatementLine]:
    """Completed statement lines no rule has paired, oldest first."""
    s = StatementLine
    paired = exists().where(ReconMatch.statement_line_id == s.id)
    return list(session.scalars(
        select(s).where(s.status == COMPLETED, ~paired).order_by(s.completed_at).limit(limit)))


