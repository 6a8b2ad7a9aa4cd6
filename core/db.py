"""SQLAlchemy plumbing: the declarative base, shared column types, engines, sessions."""

from __future__ import annotations

import os
import time
from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, TypeVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    SessionTransaction,
    make_transient_to_detached,
    mapped_column,
    sessionmaker,
)
from sqlalchemy.types import TypeDecorator

from core.clock import utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always hands back aware ones, SQLite included."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("store aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BIGINT keys everywhere but SQLite, whose rowid alias must be INTEGER to autoincrement.
BigId = BigInteger().with_variant(Integer(), "sqlite")

intpk = Annotated[int, mapped_column(BigId, primary_key=True)]
MinorUnits = Annotated[int, mapped_column(BigInteger)]
"""An amount in integer minor units (cents). Never a float."""
Timestamp = Annotated[datetime, mapped_column(UTCDateTime)]
Currency = Annotated[str, mapped_column(String(3))]
JSONDict = Annotated[dict[str, Any], mapped_column(JSON)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


PING_AFTER_IDLE = 10.0
"""Seconds a pooled connection may rest before it is checked (a round trip) on checkout."""


def make_engine(url: str, *, ping_after_idle: float = PING_AFTER_IDLE, **kwargs: Any) -> Engine:
    """An engine with the pragmas and pool settings this project relies on."""
    # Bound values (phones, national IDs, PIN hashes) never appear in errors or logs.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # SQLite's own BEGIN is deferred; take the write lock at BEGIN so that
        # read-then-write transactions serialise instead of failing to upgrade.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        _track_writes(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    _track_writes(engine)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, ping_after_idle)
    _dispose_after_fork(engine)
    return engine


_RESTED_SINCE = "mkopo_rested_since"


def _ping_when_idle(engine: Engine, after: float) -> None:
    """Check a connection on checkout only when it has rested in the pool for `after` s.

    `pool_pre_ping` costs a round trip on every checkout, a tenth of a busy web worker's
    time. A connection handed back a moment ago is alive; one that rested may have been
    closed by the server, a restart or a middlebox, and is checked and, if dead, replaced
    (raising DisconnectionError makes the pool connect anew). A connection that dies
    while in use fails its statement; SQLAlchemy then invalidates the whole pool, so the
    connections that died with it are not handed out again either.
    """

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RESTED_SINCE] = None  # new: nothing to check

    @event.listens_for(engine, "checkin")
    def _rested(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RESTED_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _alive(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        rested = record.info.get(_RESTED_SINCE)
        if rested is None or time.monotonic() - rested < after:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - any failure means: use another connection
            raise DisconnectionError(f"a rested connection failed its ping: {exc}") from exc
        record.info[_RESTED_SINCE] = time.monotonic()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let the "begin" event issue BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _dispose_after_fork(engine: Engine) -> None:
    """A forked child (rq's work horse, gunicorn) must not reuse its parent's sockets."""
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))


class Database:
    """An engine and its session factory; the caller owns every transaction."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self.sessions()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work: commits when the block succeeds, rolls back otherwise."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


_WROTE = "mkopo_wrote"
_CONNECTIONS = "mkopo_connections"
_READS = ("SELECT", "SAVEPOINT", "RELEASE", "BEGIN")
"""What a statement may start with and leave the transaction read-only (anything else,
ROLLBACK TO SAVEPOINT included, counts as a write)."""


def _track_writes(engine: Engine) -> None:
    """Mark each connection's transaction that sends anything but a read (see `ends_as_read`)."""

    def started(conn: Any, *_args: Any) -> None:
        conn.info[_WROTE] = False

    def sent(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not conn.info.get(_WROTE) and not statement.lstrip()[:9].upper().startswith(_READS):
            conn.info[_WROTE] = True

    def failed(context: Any) -> None:  # an aborted transaction rolls back, as before
        if context.connection is not None:
            context.connection.info[_WROTE] = True

    event.listen(engine, "begin", started)
    event.listen(engine, "savepoint", started)
    event.listen(engine, "before_cursor_execute", sent)
    event.listen(engine, "handle_error", failed)


@event.listens_for(Session, "after_begin")
def _remember_connection(session: Session, transaction: SessionTransaction,
                         connection: Any) -> None:
    """The connections of the session's current transaction (for `ends_as_read`)."""
    known = session.info.get(_CONNECTIONS)
    if known is None or known[0] is not transaction:
        session.info[_CONNECTIONS] = (transaction, [connection])
    else:
        known[1].append(connection)


def ends_as_read(session: Session) -> bool:
    """The session's transaction only read: no ORM change pending, and no statement but a
    SELECT sent on its connections (the driver-level reads of `DriverRead` are SELECTs).

    Such a transaction may end with COMMIT as well as ROLLBACK, and should: psycopg drops
    every prepared statement of the connection at a ROLLBACK, so a pool whose requests all
    end in ROLLBACK makes PostgreSQL parse and plan every statement every time (~0.5 ms of
    its CPU for a USSD step's reads, ten times their execution)."""
    known = session.info.get(_CONNECTIONS)
    transaction = session.get_transaction()
    if transaction is None or known is None or known[0] is not transaction:
        return False
    if session.new or session.dirty or session.deleted:
        return False
    return not any(conn.invalidated or conn.info.get(_WROTE, True) for conn in known[1])


RowT = TypeVar("RowT", bound=Base)


_INSERTED = "insert_once_rows"


def insert_once(session: Session, model: type[RowT], values: dict[str, Any],
                key: str) -> RowT | None:
    """INSERT … ON CONFLICT (`key`) DO NOTHING: the new row as a persistent object, or None.

    One statement where a look-up, a savepoint and an insert would be four; on
    PostgreSQL a concurrent insert of the same key makes this one wait for that
    transaction and then do nothing. The object is built from `values` (columns
    not given load on first use), not read back.
    """
    table = cast(Table, model.__table__)
    new_id = session.connection().execute(
        _insert_once_statement(table, key, session.get_bind().dialect.name), values).scalar()
    if new_id is None:
        return None
    return attach_inserted(session, model, new_id, values)


def skipping_duplicates(table: Table | type[Base], key: str | tuple[str, ...],
                        dialect: str) -> Any:
    """`INSERT INTO table … ON CONFLICT (key) DO NOTHING` in `dialect` (the bind's name).

    The one place that picks PostgreSQL's or SQLite's construct (their ON CONFLICT
    clauses are written alike); add `.values()`, `.from_select()` or `.returning()`.
    Built once per table and key: the values come as parameters.
    """
    target = cast(Table, table.__table__) if isinstance(table, type) else table
    return _skipping_duplicates(target, (key,) if isinstance(key, str) else key, dialect)


def attach_inserted(session: Session, model: type[RowT], new_id: int,
                    values: dict[str, Any]) -> RowT:
    """A row the caller has just INSERTed (by id), as a persistent object built from `values`."""
    row = model(id=new_id, **values)
    make_transient_to_detached(row)
    session.add(row)
    # Attached this way, the session does not know the row is new: remember in which
    # (nested) transaction it was inserted, so a rollback of that transaction drops it.
    session.info.setdefault(_INSERTED, []).append((_innermost(session), row))
    return row


@lru_cache(maxsize=256)
def _skipping_duplicates(table: Table, keys: tuple[str, ...], dialect: str) -> Any:
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return upsert(table).on_conflict_do_nothing(index_elements=list(keys))


@lru_cache(maxsize=256)
def _insert_once_statement(table: Table, key: str, dialect: str) -> Any:
    """Built once per table: the values come as parameters, so it is also compiled once."""
    return _skipping_duplicates(table, (key,), dialect).returning(table.c.id)


def _innermost(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


def _inside(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back_inserts(session: Session, previous: SessionTransaction) -> None:
    kept = []
    for transaction, row in session.info.get(_INSERTED, []):
        if not _inside(transaction, previous):
            kept.append((transaction, row))
        elif row in session:
            session.expunge(row)
    session.info[_INSERTED] = kept


@event.listens_for(Session, "after_commit")
def _forget_committed_inserts(session: Session) -> None:
    session.info.pop(_INSERTED, None)


AnySelect = Select[*tuple[Any, ...]]


class DriverRead:
    """A SELECT built once, compiled once per dialect, and run on the driver's own cursor.

    SQLAlchemy costs ~0.2–0.35 ms of client CPU per statement whatever the statement (the
    ORM session layer, the statement's cache key, parameter and result wrapping); psycopg's
    cursor alone ~0.05 ms. The hottest reads of a USSD step (the member as she dials, the
    balance) go this way. What stays SQLAlchemy's: the SQL for each dialect, constant IN
    lists expanded at compile time, each column's result processing (aware datetimes on
    SQLite), the session's connection and transaction, a driver error raised as
    SQLAlchemy's `DBAPIError`, and a dead connection invalidated.

    Parameters are the statement's `bindparam` names; their values go to the driver as they
    are (plain str and int: no bind processing). Rows come back as named tuples.
    """

    def __init__(self, statement: AnySelect) -> None:
        self.statement = statement
        self._compiled: dict[str, _DriverStatement] = {}

    def all(self, session: Session, **params: Any) -> list[Any]:
        if session.autoflush:
            session.flush()  # as the ORM does before a query: the read sees pending changes
        connection = session.connection()
        compiled = self._compiled.get(connection.dialect.name)
        if compiled is None:
            compiled = self._compiled[connection.dialect.name] = _DriverStatement(
                self.statement, connection.dialect, tuple(params))
        arguments = compiled.arguments(params)
        cursor = connection.connection.cursor()
        try:
            cursor.execute(compiled.sql, arguments)
            rows = cursor.fetchall()
        except connection.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(connection, cursor, compiled.sql, arguments, exc) from exc
        finally:
            cursor.close()
        return [compiled.row(raw) for raw in rows]

    def first(self, session: Session, **params: Any) -> Any | None:
        rows = self.all(session, **params)
        return rows[0] if rows else None


class _DriverStatement:
    """One statement's SQL, parameter order and result processors for one dialect."""

    def __init__(self, statement: AnySelect, dialect: Dialect, names: tuple[str, ...]) -> None:
        compiled = statement.compile(dialect=dialect)
        # expand the IN lists (constants) once; the named parameters are filled per call
        expanded = compiled.construct_expanded_state(dict.fromkeys(names))
        self.sql = expanded.statement
        self.constants = {k: v for k, v in expanded.parameters.items() if k not in names}
        self.order = expanded.positiontup if compiled.positional else None
        self.processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns]
        self.row_type = _row_type(tuple(statement.selected_columns.keys()))

    def arguments(self, params: dict[str, Any]) -> Any:
        values = {**self.constants, **params}
        return values if self.order is None else tuple(values[name] for name in self.order)

    def row(self, raw: Any) -> Any:
        return self.row_type(*(value if process is None else process(value)
                               for process, value in zip(self.processors, raw, strict=True)))


def _row_type(names: tuple[str, ...]) -> Any:
    return namedtuple("Row", names)  # noqa: PYI024 - names known at run time


def _wrapped(connection: Any, cursor: Any, sql: str, arguments: Any, exc: Exception) -> Exception:
    """The driver's error as SQLAlchemy raises it; a connection it shows dead is invalidated."""
    dialect = connection.dialect
    connection.info[_WROTE] = True  # a failed transaction: it rolls back, as before
    dead = dialect.is_disconnect(exc, connection.connection, cursor)
    if dead and not connection.invalidated:
        connection.invalidate(exc)
    return DBAPIError.instance(sql, arguments, exc, dialect.loaded_dbapi.Error,
                               hide_parameters=True, connection_invalidated=dead,
                               dialect=dialect)
