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
`reconciliation_breaks`, one per money fact (its `dedupe_key`); breaks whose
subject was matched by a later run are closed automatically.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select, text
from sqlalchemy.orm import Session

from core.clock import utcnow
from reconciliation.break_finders import BREAK_FINDERS, close_cleared_breaks
from reconciliation.config import ADVISORY_LOCK, SYSTEM_ACTOR, ReconConfig
from reconciliation.context import RunContext
from reconciliation.matching import MATCHERS, close_work_area, open_work_area
from reconciliation.models import ReconMatch, ReconRun
from reconciliation.snapshot import snapshot_items
from reconciliation.sql import analyze
from reconciliation.statements import COMPLETED, StatementLine

logger = logging.getLogger(__name__)


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
    analyze(session, "statement_lines", "recon_matches")  # recon_items: in the snapshot
    ctx = RunContext(session, run.id, config, now)
    for rule, matcher in MATCHERS:
        summary.matched[rule] = clock.time(rule, matcher, ctx)
        if rule == "receipt":
            analyze(session, "recon_matches")  # it just grew by most of the statement
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
