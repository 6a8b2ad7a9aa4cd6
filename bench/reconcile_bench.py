"""Benchmark: reconcile N statement lines against N internal transactions on PostgreSQL.

    python bench/reconcile_bench.py --url postgresql://postgres@127.0.0.1/mkopo_recon_bench \
        --sizes 100000 1000000 [--write-docs]

Each size gets a fresh schema (the database name must contain "bench": the
schema is dropped), data generated in the database with INSERT … SELECT
generate_series, then one `reconcile()` run, timed, in one transaction. The
Python process's peak RSS is read from getrusage; PostgreSQL's work_mem is
reported as the server has it. With --write-docs the table replaces the
section between the markers in docs/reconciliation.md.

The generated day, per 100 transactions (n % 100):
  0     same receipt, amounts differ by KES 1       -> amount_mismatch
  1     other receipts, same reference and amount  -> reference
  2     other receipts, no reference, same phone    -> phone_time
  3     a statement line we never booked            -> statement_without_ledger
  4     our payment missing from the statement      -> ledger_without_statement
  5     one line paying two of our items            -> one_to_many
  else  same receipt and amount                     -> receipt
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.db import Database  # noqa: E402
from core.settings import normalize_database_url  # noqa: E402
from gateway.migrate import upgrade  # noqa: E402
from reconciliation.config import ReconConfig  # noqa: E402
from reconciliation.run import reconcile  # noqa: E402

DOCS = ROOT / "docs" / "reconciliation.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
T0 = "2026-11-01 00:00:00+00"

# n -> amount, phone digits and time; both sides use the same expressions.
AMOUNT = "(10000 + (n * 7919) % 990000)"
DIGITS = "('2547' || lpad((n % 100000000)::text, 8, '0'))"
AT = f"(timestamptz '{T0}' + n * interval '1 second')"

INTENTS = f"""
INSERT INTO payment_intents (kind, phone, amount, currency, reference, idempotency_key, status,
    receipt, deadline_at, status_queries, created_at, settled_at)
SELECT 'repayment', '+' || {DIGITS}, {AMOUNT},
       'KES',
       CASE WHEN n % 100 = 1 THEN 'L' || n WHEN n % 100 = 5 THEN 'G' || n ELSE '' END,
       'bench-' || n, 'succeeded', 'R' || n, {AT}, 0, {AT}, {AT}
FROM generate_series(1::bigint, :n) AS n WHERE n % 100 <> 3
UNION ALL
SELECT 'repayment', '+' || {DIGITS}, 5000, 'KES', 'G' || n, 'bench-x' || n, 'succeeded',
       'X' || n, {AT}, 0, {AT}, {AT}
FROM generate_series(1::bigint, :n) AS n WHERE n % 100 = 5
"""

STATEMENT_IMPORT = """
INSERT INTO statement_imports (id, file_name, file_hash, line_count, paid_in_total,
    withdrawn_total, first_at, last_at, first_epoch, last_epoch, imported_by, imported_at)
VALUES (1, 'bench.csv', 'bench', :n, 0, 0, timestamptz '2026-11-01', now(),
        extract(epoch from timestamptz '2026-11-01')::bigint,
        extract(epoch from timestamptz '2026-11-01')::bigint + :n + 60, 'bench', now())
"""

LINES = f"""
INSERT INTO statement_lines (import_id, line_no, receipt, completed_at, completed_epoch,
    details, status, paid_in, withdrawn, amount, reason_type, other_party, party_name,
    party_phone, phone_key, account_reference, linked_receipt)
SELECT 1, n + 1,
       CASE WHEN n % 100 IN (1, 2, 3, 5) THEN 'S' || n ELSE 'R' || n END,
       {AT} + interval '30 seconds',
       extract(epoch from {AT} + interval '30 seconds')::bigint,
       'Pay Bill from ' || substr({DIGITS}, 1, 5) || '****' || right({DIGITS}, 3),
       'Completed', amount, 0, amount, 'Pay Bill Online', '', '',
       substr({DIGITS}, 1, 5) || '****' || right({DIGITS}, 3),
       substr({DIGITS}, 1, 5) || right({DIGITS}, 3),
       CASE WHEN n % 100 = 1 THEN 'L' || n WHEN n % 100 = 5 THEN 'G' || n ELSE '' END, ''
FROM (SELECT n, CASE WHEN n % 100 = 0 THEN {AMOUNT} + 100
                     WHEN n % 100 = 5 THEN {AMOUNT} + 5000
                     ELSE {AMOUNT} END AS amount
      FROM generate_series(1::bigint, :n) AS n WHERE n % 100 <> 4) AS g
"""


@dataclass(frozen=True)
class Figures:
    size: int
    lines: int
    items: int
    generate_s: float
    reconcile_s: float
    rss_mb: float
    matched: dict[str, int]
    breaks: dict[str, int]
    seconds: dict[str, float]

    @property
    def rate(self) -> float:
        return self.lines / self.reconcile_s


def fresh_schema(db: Database) -> None:
    if "bench" not in (db.engine.url.database or ""):
        raise SystemExit("refusing to drop the schema of a database without 'bench' in its name")
    with db.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    upgrade(db.url)


def generate(connection: Connection, n: int) -> None:
    connection.execute(text(INTENTS), {"n": n})
    connection.execute(text(STATEMENT_IMPORT), {"n": n})
    connection.execute(text(LINES), {"n": n})
    connection.execute(text("ANALYZE"))


def count(connection: Connection, table: str) -> int:
    return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def run(url: str, n: int) -> Figures:
    db = Database(url)
    fresh_schema(db)
    started = time.perf_counter()
    with db.engine.begin() as connection:
        generate(connection, n)
        lines, items = count(connection, "statement_lines"), count(connection, "payment_intents")
    generated = time.perf_counter() - started
    started = time.perf_counter()
    with db.transaction() as session:
        summary = reconcile(session, actor="bench", config=ReconConfig())
    elapsed = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    db.dispose()
    return Figures(n, lines, items, generated, elapsed, rss, summary.matched, summary.breaks,
                   summary.seconds)


def work_mem(url: str) -> str:
    db = Database(url)
    with db.engine.connect() as connection:
        value = str(connection.execute(text("SHOW work_mem")).scalar_one())
        version = str(connection.execute(text("SHOW server_version")).scalar_one())
    db.dispose()
    return f"{value} (PostgreSQL {version})"


def table(results: list[Figures], mem: str) -> str:
    rows = ["| statement lines | our items | reconcile | lines/s | peak RSS (Python) | "
            "matched by rule | breaks |", "|---:|---:|---:|---:|---:|---|---|"]
    for f in results:
        matched = ", ".join(f"{k} {v:,}" for k, v in f.matched.items() if v)
        breaks = ", ".join(f"{k} {v:,}" for k, v in f.breaks.items() if v)
        rows.append(f"| {f.lines:,} | {f.items:,} | {f.reconcile_s:.1f} s | {f.rate:,.0f} | "
                    f"{f.rss_mb:.0f} MB | {matched} | {breaks} |")
    if len(results) > 1:
        small, big = results[0], results[-1]
        ratio = (big.reconcile_s / small.reconcile_s) / (big.lines / small.lines)
        rows.append("")
        rows.append(f"Scaling: {big.lines / small.lines:.0f}x the lines took "
                    f"{big.reconcile_s / small.reconcile_s:.1f}x the time "
                    f"(1.0 = linear; measured {ratio:.2f}).")
    rows.append("")
    rows.append(f"PostgreSQL work_mem: server default {mem}; a run sets "
                f"`work_mem = {ReconConfig().pg_work_mem}` for its own transaction "
                f"(`RECON_PG_WORK_MEM`). Data generated in the database (generate_series), "
                f"not counted in the reconcile time.")
    rows.append("")
    rows.append("Seconds per step (largest size): " + ", ".join(
        f"{k} {v:.1f}" for k, v in results[-1].seconds.items() if v >= 0.1) + ".")
    return "\n".join(rows)


def write_docs(section: str) -> None:
    content = DOCS.read_text()
    head, _, rest = content.partition(START)
    _, _, tail = rest.partition(END)
    DOCS.write_text(f"{head}{START}\n{section}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1/mkopo_recon_bench")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    url = normalize_database_url(args.url)
    results = []
    for n in args.sizes:
        figures = run(url, n)
        results.append(figures)
        print(f"{n:>9,}: generated in {figures.generate_s:.1f} s; reconciled "
              f"{figures.lines:,} lines against {figures.items:,} items in "
              f"{figures.reconcile_s:.1f} s; peak RSS {figures.rss_mb:.0f} MB", flush=True)
        print(f"           matched {figures.matched}", flush=True)
        print(f"           breaks  {figures.breaks}", flush=True)
        print(f"           seconds {figures.seconds}", flush=True)
    section = table(results, work_mem(url))
    print(section)
    if args.write_docs:
        write_docs(section)


if __name__ == "__main__":
    main()
