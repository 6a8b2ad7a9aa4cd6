"""The transactional outbox: outbound effects recorded with the change that causes them.

A service adds an item in the caller's transaction (`add`). After that
transaction commits, a dispatch job is enqueued for each new item; if Redis
loses the job, `sweep` finds the item in the database and enqueues it again.
Handlers are registered per kind by the package that owns the effect (SMS,
M-Pesa calls) and must be idempotent: the key travels to the provider.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Index, String, Table, Text, bindparam, event, inspect, or_, select
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from core import runtime
from core.clock import utcnow
from core.db import Base, JSONDict, Timestamp, insert_once, intpk, skipping_duplicates
from core.jobs import drain_started, enqueue_quietly, request_drain

logger = logging.getLogger(__name__)

PENDING, DONE, FAILED = "pending", "done", "failed"
MAX_ATTEMPTS = 8


class TransientError(Exception):
    """Try again later (timeouts, 5xx, rate limits)."""


class PermanentError(Exception):
    """Never try again (invalid number, rejected request)."""


class OutboxItem(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(120), unique=True)
    queue: Mapped[str] = mapped_column(String(20), default="default")
    payload: Mapped[JSONDict]
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[Timestamp]
    created_at: Mapped[Timestamp]
    done_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


Handler = Callable[[Session, OutboxItem], None]
HANDLERS: dict[str, Handler] = {}
BatchHandler = Callable[[Session, list[OutboxItem]], dict[int, Exception | None]]
"""Carries out many items of one kind in the drain's transaction, without a savepoint
each: it writes nothing for an item it fails, and answers per item id None (done) or
the exception that item met (`TransientError`, `PermanentError`, or any other: a crash,
put off as `_put_off` does); an item it leaves out was not tried (it ran out of time)
and stays due. An exception it raises rolls back the whole batch."""
BATCH_HANDLERS: dict[str, BatchHandler] = {}


def register(kind: str, handler: Handler, batch: BatchHandler | None = None) -> None:
    """Name the function that carries out outbox items of `kind` (`gateway.wiring` calls it),
    and optionally the one drains use for many such items at once."""
    HANDLERS[kind] = handler
    if batch is not None:
        BATCH_HANDLERS[kind] = batch
    else:
        BATCH_HANDLERS.pop(kind, None)


def add(
    session: Session, kind: str, key: str, payload: dict[str, Any], *, queue: str = "default",
    not_before: datetime | None = None,
) -> OutboxItem:
    """Record an outbound effect in the caller's transaction; the same key is added once."""
    now = utcnow()
    item = insert_once(session, OutboxItem, dict(
        kind=kind, key=key, queue=queue, payload=payload, status=PENDING, attempts=0,
        created_at=now, next_attempt_at=not_before or now, done_at=None, last_error=None,
    ), key="key")
    if item is None:
        return session.scalars(select(OutboxItem).where(OutboxItem.key == key)).one()
    if not_before is None or not_before <= now:
        session.info.setdefault("outbox_new", []).append(item)
    return item


def add_many(session: Session, items: list[tuple[str, str, dict[str, Any], str]]) -> int:
    """Record many outbound effects `(kind, key, payload, queue)` in one INSERT; returns how
    many were new. Keys seen before are skipped, as `add` does."""
    if not items:
        return 0
    now = utcnow()
    rows = session.connection().execute(_insert_items(session.get_bind().dialect.name), [
        dict(kind=kind, key=key, queue=queue, payload=payload, status=PENDING, attempts=0,
             created_at=now, next_attempt_at=now, done_at=None, last_error=None)
        for kind, key, payload, queue in items]).all()
    remember_new(session, [(item_id, queue) for item_id, queue in rows])
    return len(rows)


def remember_new(session: Session, items: list[tuple[int, str]]) -> None:
    """Items `(id, queue)` a caller inserted itself: dispatch them once the transaction commits."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    new = session.info.setdefault("outbox_new_ids", [])
    new.extend((transaction, item_id, queue) for item_id, queue in items)


@lru_cache(maxsize=2)
def _insert_items(dialect: str) -> Any:
    table = cast(Table, OutboxItem.__table__)
    return skipping_duplicates(table, "key", dialect).returning(table.c.id, table.c.queue)


DRAINED_QUEUES = frozenset({"sms"})
"""Queues whose items are sent by drain jobs, many to a job (`dispatch_due`), not one job
each: SMS come one or more per repayment, and rq's own bookkeeping for a job costs more
than sending one. Payouts and prompts, few and each worth its own job id, keep theirs."""
DRAIN_LIMIT = 500
DRAIN_BATCH = 50
"""Items a drain claims and carries out in one transaction. Per item that saves the claim,
the savepoint, the COMMIT and a Redis round trip; the UPDATEs go as one executemany."""


@event.listens_for(Session, "after_commit")
def _enqueue_committed_items(session: Session) -> None:
    drains: set[str] = set()
    for _transaction, item_id, queue in session.info.pop("outbox_new_ids", []):
        if queue in DRAINED_QUEUES:
            drains.add(queue)
            continue
        # a new item's id was never enqueued before: no need to ask Redis for its job first
        enqueue_quietly(dispatch, item_id, queue=queue, job_id=f"outbox-{item_id}", fresh=True)
    for item in session.info.pop("outbox_new", []):
        state = inspect(item)
        # An item added inside a savepoint that was rolled back has left the session.
        if item in session and state.identity is not None:
            if item.queue in DRAINED_QUEUES:
                drains.add(item.queue)
                continue
            item_id = state.identity[0]
            enqueue_quietly(dispatch, item_id, queue=item.queue, job_id=f"outbox-{item_id}")
    held = _held_requests.get()
    if held is not None:
        held.update(drains)
        return
    for queue in drains:
        request_dispatch(queue)


_held_requests: ContextVar[set[str] | None] = ContextVar("outbox_held_requests", default=None)


@contextmanager
def dispatch_requests_held() -> Iterator[Callable[[], None]]:
    """For a job that commits many transactions in a row (a drain of callbacks): the drains
    of the queues they add items to are requested when the job calls the `release` it is
    given, and at the end, not after every commit (a Redis round trip each)."""
    held: set[str] = set()
    token = _held_requests.set(held)

    def release() -> None:
        for queue in sorted(held):
            request_dispatch(queue)
        held.clear()

    try:
        yield release
    finally:
        _held_requests.reset(token)
        release()


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back_items(session: Session, previous: SessionTransaction) -> None:
    # Only the rollback of the whole transaction loses every item; a savepoint's rollback
    # loses just its own, which `_enqueue_committed_items` finds out of the session.
    if previous.parent is None:
        session.info.pop("outbox_new", None)
        session.info.pop("outbox_new_ids", None)
        return
    kept = [(transaction, item_id, queue)
            for transaction, item_id, queue in session.info.get("outbox_new_ids", [])
            if not _within(transaction, previous)]
    session.info["outbox_new_ids"] = kept


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(15 * 2 ** max(attempts - 1, 0), 3600))


def dispatch(item_id: int) -> str:
    """Carry out one outbox item (an rq job). Safe to run twice: done items are skipped."""
    with runtime.current().db.transaction() as session:
        query = select(OutboxItem).where(OutboxItem.id == item_id)
        query = query.with_for_update(skip_locked=True)
        item = session.scalar(query)
        if item is None or item.status != PENDING:
            return "skipped"
        return _run_handler(session, item)


def _run_handler(session: Session, item: OutboxItem) -> str:
    handler = HANDLERS.get(item.kind)
    item.attempts += 1
    try:
        if handler is None:
            raise PermanentError(f"no handler for {item.kind}")
        with session.begin_nested():
            handler(session, item)
    except (TransientError, PermanentError) as exc:
        return _settle(item, exc)
    return _settle(item, None)


def _settle(item: OutboxItem, error: Exception | None) -> str:
    """Record how an attempt (already counted) at `item` ended; returns the outcome."""
    if error is None:
        item.status, item.done_at = DONE, utcnow()
        return DONE
    if isinstance(error, PermanentError):
        item.status, item.last_error = FAILED, str(error)[:500]
        logger.warning("outbox %s %s: permanent failure", item.kind, item.id)
        return FAILED
    if isinstance(error, TransientError):
        item.last_error = str(error)[:500]
        logger.warning("outbox %s %s: transient failure", item.kind, item.id)
    else:  # a crash met by a batch handler: put off, as `_put_off` does for the others
        item.last_error = f"{type(error).__name__}: {error}"[:500]
        logger.warning("outbox item %s crashed; put off", item.id, exc_info=error)
    if item.attempts >= MAX_ATTEMPTS:
        item.status = FAILED
        return FAILED
    item.next_attempt_at = utcnow() + backoff(item.attempts)
    return "retry" if isinstance(error, TransientError) else "crashed"


# --- drains: the due items of a queue, many per rq job ---------------------------------------

# SKIP LOCKED: two drains (two workers) take different items. Only items due now: one put
# off after a failure waits for its time, so a drain never loops on it.
_CLAIM_DUE = (select(OutboxItem)
              .where(OutboxItem.status == PENDING, OutboxItem.queue == bindparam("queue"),
                     OutboxItem.next_attempt_at <= bindparam("now"))
              .order_by(OutboxItem.next_attempt_at, OutboxItem.id).limit(bindparam("batch"))
              .with_for_update(skip_locked=True))
# Then on from the item taken last: the items just sent are dead index entries under
# `status = 'pending'` until vacuum; starting from the oldest each time steps over them all.
_CLAIM_NEXT = _CLAIM_DUE.where(
    OutboxItem.next_attempt_at >= bindparam("after_at"),
    or_(OutboxItem.next_attempt_at > bindparam("after_at"), OutboxItem.id > bindparam("after_id")))


def request_dispatch(queue: str) -> None:
    """Have the due items of a drained queue carried out: a drain job unless one waits."""
    request_drain(dispatch_due, queue, name=f"outbox:{queue}", queue=queue)


def dispatch_due(queue: str, limit: int = DRAIN_LIMIT) -> dict[str, int]:
    """Carry out the due items of `queue`, a batch per transaction (an rq job).

    Items of a kind with a batch handler are carried out together; the others one by
    one, each in a savepoint. An item whose handler fails is put off (`backoff`) and the
    others go on. Should the batch's transaction fail as a whole, it is rolled back and
    its items are carried out again one per transaction (`dispatch`), so one bad item
    cannot hold the others back. A worker killed here loses only the batch in hand,
    whose items stay due for the next drain. Returns how many items ended in each outcome.
    """
    drain_started(f"outbox:{queue}")
    outcomes: dict[str, int] = {}
    after: tuple[datetime, int] | None = None
    taken = batches = 0
    while taken < limit:
        claimed: list[tuple[datetime, int]] = []
        try:
            done = _dispatch_batch(queue, after, claimed)
        except Exception:  # noqa: BLE001 - one item's crash must not stop the rest
            if not claimed:
                raise  # the claim itself fails: stop
            logger.warning("outbox drain batch of %s rolled back; one by one", len(claimed),
                           exc_info=True)
            done = {item_id: _dispatch_alone(item_id) for _, item_id in claimed}
        if not claimed:
            break
        tried = [position for position in claimed if done[position[1]] != NOT_TRIED]
        after = _resume_after(claimed, done, after)
        taken, batches = taken + len(tried), batches + 1
        if batches == 1 and len(claimed) == DRAIN_BATCH:  # a backlog: a second worker helps
            request_dispatch(queue)
        for outcome in done.values():
            if outcome != NOT_TRIED:
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if not tried:
            break
    else:
        request_dispatch(queue)  # stopped at the limit: the rest needs a job
    return outcomes


NOT_TRIED = "not_tried"


def _resume_after(claimed: list[tuple[datetime, int]], done: dict[int, str],
                  after: tuple[datetime, int] | None) -> tuple[datetime, int] | None:
    """Where the next claim starts: after the last item claimed, or before the first one a
    batch handler had no time for (those done meanwhile are no longer pending)."""
    for position, (_at, item_id) in enumerate(claimed):
        if done[item_id] == NOT_TRIED:
            return claimed[position - 1] if position else after
    return claimed[-1]


def _dispatch_batch(queue: str, after: tuple[datetime, int] | None,
                    claimed: list[tuple[datetime, int]]) -> dict[int, str]:
    """Claim the next due items of `queue` and carry them out in one transaction; what it
    claimed goes into `claimed` (for the caller's bookkeeping). Returns each claimed
    item's outcome by id."""
    with runtime.current().db.transaction() as session:
        params: dict[str, Any] = {"queue": queue, "now": utcnow(), "batch": DRAIN_BATCH}
        if after is None:
            items = list(session.scalars(_CLAIM_DUE, params))
        else:
            items = list(session.scalars(_CLAIM_NEXT, {**params, "after_at": after[0],
                                                       "after_id": after[1]}))
        # read before any handler runs: a savepoint's rollback may expire the items
        claimed.extend((item.next_attempt_at, item.id) for item in items)
        done: dict[int, str] = {}
        for kind, group in _by_kind(items).items():
            batch = BATCH_HANDLERS.get(kind) if HANDLERS.get(kind) is not None else None
            if batch is None:
                done.update((item.id, _run_isolated(session, item)) for item in group)
                continue
            for item in group:
                item.attempts += 1
            errors = batch(session, group)
            for item in group:
                if item.id in errors:
                    done[item.id] = _settle(item, errors[item.id])
                else:  # not tried this time: no attempt to count, still due
                    item.attempts -= 1
                    done[item.id] = NOT_TRIED
        return done


def _run_isolated(session: Session, item: OutboxItem) -> str:
    """One item of a batch through its own handler; a crash rolls back its savepoint only
    (rolling back the batch would undo the record of messages already handed over)."""
    try:
        return _run_handler(session, item)
    except Exception as exc:  # noqa: BLE001 - put off, as `_put_off` does
        return _settle(item, exc)


def _by_kind(items: list[OutboxItem]) -> dict[str, list[OutboxItem]]:
    groups: dict[str, list[OutboxItem]] = {}
    for item in items:
        groups.setdefault(item.kind, []).append(item)
    return groups


def _dispatch_alone(item_id: int) -> str:
    """One item of a batch that rolled back, in its own transaction; a crash puts it off."""
    try:
        return dispatch(item_id)
    except Exception as exc:  # noqa: BLE001 - the others of the batch go on
        _put_off(item_id, exc)
        return "crashed"


def _put_off(item_id: int, exc: Exception) -> None:
    """Count a crashed attempt and try again later, as for a transient error."""
    logger.warning("outbox item %s crashed; put off", item_id, exc_info=exc)
    try:
        with runtime.current().db.transaction() as session:
            item = session.scalar(select(OutboxItem).where(OutboxItem.id == item_id)
                                  .with_for_update())
            if item is None or item.status != PENDING:
                return
            item.attempts += 1
            item.last_error = f"{type(exc).__name__}: {exc}"[:500]
            if item.attempts >= MAX_ATTEMPTS:
                item.status = FAILED
            else:
                item.next_attempt_at = utcnow() + backoff(item.attempts)
    except Exception:  # noqa: BLE001 - the original error is the one worth reporting
        logger.warning("could not put off outbox item %s", item_id, exc_info=True)


def sweep(limit: int = 500, grace: timedelta = timedelta(seconds=30)) -> int:
    """Re-enqueue pending items whose time has come (jobs lost with a worker or Redis)."""
    now = utcnow()
    with runtime.current().db.transaction() as session:
        due = session.execute(
            select(OutboxItem.id, OutboxItem.queue, OutboxItem.attempts)
            .where(OutboxItem.status == PENDING, OutboxItem.next_attempt_at <= now)
            .where(OutboxItem.created_at <= now - grace)
            .order_by(OutboxItem.next_attempt_at)
            .limit(limit)
        ).all()
    for item_id, queue, attempts in due:
        enqueue_quietly(dispatch, item_id, queue=queue, job_id=f"outbox-{item_id}-{attempts}")
    return len(due)
