"""Benchmark the money core: repayments through record_repayment, then a full ledger check.

    DATABASE_URL=postgresql://postgres@127.0.0.1/mkopo_bench .venv/bin/python bench/ledger_bench.py

Creates (by default) 1,000 loans, each funded by 5 lenders and paid out, posts
10,000 repayments through `lending.repayments.record_repayment` (one transaction
each, as a callback would), then verifies the ledger and its trial balance. The
schema is migrated first; rows are added under fresh phone numbers and keys, so
the database may be reused but should not be a production one.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event  # noqa: E402

import ledger  # noqa: E402
from core import runtime  # noqa: E402
from core.clock import utcnow  # noqa: E402
from core.db import Database  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.settings import Settings  # noqa: E402
from gateway.migrate import upgrade  # noqa: E402
from ledger import MOBILE_MONEY_FLOAT, credit, debit, lender_wallet  # noqa: E402
from lending import members  # noqa: E402
from lending.applications import apply_for_loan, approve_loan  # noqa: E402
from lending.catalog import create_product  # noqa: E402
from lending.disbursement import complete_disbursement, start_disbursement  # noqa: E402
from lending.funding import fund_loan  # noqa: E402
from lending.models import FieldPartner  # noqa: E402
from lending.protection import set_credit_limit  # noqa: E402
from lending.repayments import record_repayment  # noqa: E402

LENDERS_PER_LOAN = 5
LENDER_POOL = 50
LOAN_AMOUNT = 500_000  # KES 5,000: 50 shares of KES 100
SHARES_EACH = LOAN_AMOUNT // 10_000 // LENDERS_PER_LOAN


def phone(run: int, n: int) -> str:
    return f"+2547{run:04d}{n:04d}"


def member(session, run: int, n: int, *, lender: bool = False) -> int:
    created = members.register_member(
        session, phone=phone(run, n), first_name=f"Bench{n}", national_id=None, pin="4821",
        language="en", consent=True,
    )
    partner = FieldPartner(name=f"Bench partner {run}", region="Nairobi", risk_rating=3)
    session.add(partner)
    session.flush()
    members.verify_member(session, created.id, partner.id, "bench")
    if lender:
        members.become_lender(session, created.id)
    return created.id


def set_up_lenders(db: Database, run: int) -> list[int]:
    with db.transaction() as s:
        ids = [member(s, run, 9000 + n, lender=True) for n in range(LENDER_POOL)]
        for lender_id in ids:
            ledger.post(s, f"bench:{run}:deposit:{lender_id}", "deposit",
                        [debit(MOBILE_MONEY_FLOAT, 10**11),
                         credit(lender_wallet(lender_id), 10**11)])
    return ids


def set_up_loan(s, run: int, n: int, product_code: str, lenders: Sequence[int]) -> int:
    borrower = member(s, run, n)
    set_credit_limit(s, borrower, 10_000_000, actor="bench", reason="bench")
    loan = apply_for_loan(s, member_id=borrower, product_code=product_code, amount=LOAN_AMOUNT,
                          term=12, purpose="bench", idempotency_key=f"bench:{run}:app:{n}")
    approve_loan(s, loan.id, actor="bench")
    for j in range(LENDERS_PER_LOAN):
        lender = lenders[(n * LENDERS_PER_LOAN + j) % len(lenders)]
        fund_loan(s, loan_id=loan.id, lender_id=lender, shares=SHARES_EACH,
                  idempotency_key=f"bench:{run}:fund:{n}:{j}")
    start_disbursement(s, loan.id, actor="bench")
    complete_disbursement(s, loan.id, receipt=f"B{run}{n}", occurred_at=utcnow())
    return loan.id


def set_up(db: Database, run: int, loans: int) -> list[int]:
    """Create the loans, 50 to a transaction; returns their ids."""
    with db.transaction() as s:
        product = create_product(s, {
            "code": f"BENCH{run}", "name": "Bench weekly", "min_amount": 100_000,
            "max_amount": 5_000_000, "terms": [12], "frequency": "weekly",
            "interest_method": "flat", "interest_rate": "52",
        })
        code = product.code
    lenders = set_up_lenders(db, run)
    ids: list[int] = []
    for start in range(0, loans, 50):
        with db.transaction() as s:
            ids += [set_up_loan(s, run, n, code, lenders)
                    for n in range(start, min(start + 50, loans))]
    return ids


class StatementCounter:
    """Counts the SQL statements (round trips) the engine sends, COMMITs included."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        event.listen(db.engine, "before_cursor_execute", self._statement)
        event.listen(db.engine, "commit", self._commit)

    def _statement(self, *_args: object) -> None:
        self.count += 1

    def _commit(self, *_args: object) -> None:
        self.count += 1


def postgres_cpu(db: Database) -> float:
    """CPU seconds so far of the PostgreSQL backends serving this database (Linux /proc;
    the server is on this machine): a repayment's cost includes the server's share."""
    with db.engine.connect() as conn:
        pids = list(conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()").scalars())
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def repay_all(db: Database, run: int, loan_ids: Sequence[int], count: int, workers: int) -> float:
    """Post `count` repayments over the loans from `workers` threads; returns seconds taken."""
    rng = random.Random(run)
    plan = [(loan_ids[i % len(loan_ids)], rng.randint(5_000, 45_000), i) for i in range(count)]
    # each worker takes whole loans, so workers contend only on shared accounts
    parts = [[p for p in plan if loan_ids.index(p[0]) % workers == w] for w in range(workers)]

    def work(part: list[tuple[int, int, int]]) -> None:
        for loan_id, amount, i in part:
            with db.transaction() as s:
                record_repayment(s, loan_id=loan_id, amount=amount, key=f"bench:{run}:rep:{i}",
                                 source="c2b", receipt=f"RB{run}{i}")

    threads = [threading.Thread(target=work, args=(part,)) for part in parts]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - began


def verify(db: Database) -> tuple[float, float, bool]:
    """Time ledger.verify and the trial balance."""
    with db.transaction() as s:
        began = time.perf_counter()
        check = ledger.verify(s)
        verified = time.perf_counter() - began
        began = time.perf_counter()
        balanced = ledger.trial_balance(s).balanced
        return verified, time.perf_counter() - began, check.ok and balanced


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loans", type=int, default=1_000)
    parser.add_argument("--repayments", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("set DATABASE_URL to a PostgreSQL database for this benchmark", file=sys.stderr)
        return 2
    rt = runtime.configure(Runtime(Settings.from_env()))
    upgrade(rt.db.url)
    run = random.randrange(10_000)
    began = time.perf_counter()
    loan_ids = set_up(rt.db, run, args.loans)
    print(f"set up {len(loan_ids)} loans x {LENDERS_PER_LOAN} lenders, paid out: "
          f"{time.perf_counter() - began:.1f} s")
    counter = StatementCounter(rt.db)
    # the pool's connections, opened before the clock starts, so their backends are counted
    repay_all(rt.db, -run - 1, loan_ids, min(args.workers * 2, len(loan_ids)), args.workers)
    counter.count = 0
    cpu, server = time.process_time(), postgres_cpu(rt.db)
    seconds = repay_all(rt.db, run, loan_ids, args.repayments, args.workers)
    cpu, server = time.process_time() - cpu, postgres_cpu(rt.db) - server
    print(f"{args.repayments} repayments, {args.workers} worker thread(s): {seconds:.1f} s, "
          f"{args.repayments / seconds:.0f} repayments/s; in-process CPU "
          f"{cpu * 1000 / args.repayments:.2f} ms, PostgreSQL CPU "
          f"{server * 1000 / args.repayments:.2f} ms and {counter.count / args.repayments:.1f} "
          f"SQL statements (COMMIT included) per repayment; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    verified, trial, ok = verify(rt.db)
    print(f"ledger.verify: {verified * 1000:.0f} ms, trial balance: {trial * 1000:.0f} ms, "
          f"{'OK' if ok else 'NOT OK'}")
    rt.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
