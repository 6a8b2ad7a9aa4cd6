"""How long planning and enqueueing 100,000 repayment reminders takes on PostgreSQL.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/mkopo_bench \\
        .venv/bin/python bench/reminders_bench.py [--installments 100000]

The lending domain is stood in for by a synthetic `bench_installments` table
read through the real port interface (`due_installments`), so the figure covers
the port's query, rendering, opt-out lookups, the bulk inserts, the commit, the
release query and enqueueing the dispatch jobs. Target: at most 60 s.
It writes to the database it is given: use one whose name contains "bench".
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from core import runtime as runtime_module  # noqa: E402
from core.clock import FrozenClock, set_clock  # noqa: E402
from core.jobs import get_queue  # noqa: E402
from core.money import Money  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.settings import Settings  # noqa: E402
from gateway.migrate import upgrade  # noqa: E402
from messaging.ports import DueInstallment, MemberInfo, set_member_lookup  # noqa: E402
from messaging.reminders import DEFAULT_OFFSETS, run_reminders  # noqa: E402

DAY = date(2026, 3, 2)
MORNING = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # 09:00 in Nairobi: outside quiet hours


class SqlLending:
    """The port's reminder query, answered from the synthetic table."""

    def find_member(self, session: Session, phone: str) -> MemberInfo | None:
        return None

    def balance_text_params(self, session: Session, member_id: int) -> dict[str, object]:
        return {}

    def request_repayment(self, session: Session, member_id: int, amount_minor: int,
                          idempotency_key: str) -> None:
        return None

    def due_installments(self, session: Session, on_dates: list[date]
                         ) -> Iterator[DueInstallment]:
        rows = session.execute(
            text("SELECT id, member_id, phone, language, amount_minor, due_date, reference "
                 "FROM bench_installments WHERE due_date = ANY(:dates)"),
            {"dates": on_dates},
        ).yield_per(5000)
        for row in rows:
            yield DueInstallment(row.id, row.member_id, row.phone, row.language,
                                 Money(row.amount_minor), row.due_date, row.reference)


def prepare(runtime: Runtime, installments: int) -> None:
    """Schema up to date, the synthetic installments in place, earlier reminders gone."""
    upgrade(runtime.settings.sqlalchemy_url)
    dates = [DAY - timedelta(days=offset) for offset in DEFAULT_OFFSETS]
    with runtime.db.engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS bench_installments"))
        connection.execute(text(
            "CREATE TABLE bench_installments (id BIGINT PRIMARY KEY, member_id BIGINT NOT NULL,"
            " phone VARCHAR(16) NOT NULL, language VARCHAR(5) NOT NULL,"
            " amount_minor BIGINT NOT NULL, due_date DATE NOT NULL, reference VARCHAR(20))"))
        connection.execute(text(
            "INSERT INTO bench_installments SELECT n, n, '+2547' || lpad(n::text, 8, '0'),"
            " CASE WHEN n % 2 = 0 THEN 'sw' ELSE 'en' END, 150000 + n % 1000,"
            " (:dates)[1 + n % 4], 'ML-' || n FROM generate_series(1, :n) AS n"),
            {"dates": dates, "n": installments})
        connection.execute(text("CREATE INDEX ON bench_installments (due_date)"))
        connection.execute(text("ANALYZE bench_installments"))
        connection.execute(text("DELETE FROM outbox WHERE key LIKE 'sms:reminder:%'"))
        connection.execute(text("DELETE FROM sms_messages WHERE idempotency_key LIKE "
                                "'reminder:%'"))


def forget_jobs() -> int:
    """Drop the dispatch jobs the bench enqueued, so no worker sends them."""
    queue = get_queue("sms")
    ours = [job_id for job_id in queue.job_ids if job_id.startswith("sms-reminders-")]
    for job_id in ours:
        job = queue.fetch_job(job_id)
        if job is not None:
            job.delete()
    return len(ours)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--installments", type=int, default=100_000)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql")) or "bench" not in url.rsplit("/", 1)[-1]:
        print("set DATABASE_URL to a PostgreSQL database whose name contains 'bench'")
        return 2
    runtime = runtime_module.configure(Runtime(Settings.from_env()))
    set_clock(FrozenClock(MORNING))
    set_member_lookup(SqlLending())
    prepare(runtime, args.installments)

    started = time.perf_counter()
    plan = run_reminders()
    first = time.perf_counter() - started
    started = time.perf_counter()
    again = run_reminders()
    second = time.perf_counter() - started
    assert plan is not None and again is not None
    jobs = forget_jobs()
    print(f"installments due: {args.installments:,}")
    print(f"first run:  {plan.queued:,} reminders queued, {plan.released:,} released in "
          f"{jobs} dispatch jobs, {first:.1f} s (target <= 60 s)")
    print(f"second run: {again.queued:,} queued, {again.already_planned:,} already planned, "
          f"{second:.1f} s")
    runtime.close()
    return 0 if first <= 60 else 1


if __name__ == "__main__":
    raise SystemExit(main())
