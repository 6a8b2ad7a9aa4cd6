"""Benchmark M-Pesa repayment callbacks end to end: processed per second by 2 rq workers.

    createdb -h 127.0.0.1 -U postgres mkopo_payments_bench
    DATABASE_URL=postgresql://postgres@127.0.0.1/mkopo_payments_bench \\
    REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/callbacks_bench.py
    # or, on a machine whose Redis others use too: … bench/callbacks_bench.py --private-redis

Seeds running loans (5 lenders each) through the real services, starts gunicorn
(gthread) and `flask worker` processes (as the Procfile runs them) on 127.0.0.1,
and fires distinct C2B confirmations, each a KES 100 repayment, at
`/mpesa/<token>/c2b/confirmation` from client processes over keep-alive
connections. A batch is done when every callback is processed and every receipt
SMS sent. Two modes: `live` (the workers drain while callbacks arrive) and
`backlog` (the workers are paused with SIGSTOP while the batch is stored, then
let go). Prints, per batch, accepted/s, processed/s, CPU per callback by process
kind (gunicorn, workers, PostgreSQL backends, load generator) and the load
average; at the end checks that every callback was posted as exactly one
repayment and that the ledger verifies with a zero trial balance. Everything
stays on the loopback interface; the database is migrated and reused under fresh
keys (it should not be a production one: the seeding's own pending outbox items
are set aside). `--write-docs` records the figures in docs/payments.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import func, select  # noqa: E402

from core.db import Database  # noqa: E402
from core.settings import normalize_database_url  # noqa: E402
from gateway.migrate import upgrade  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TOKEN = "bench-callback-token"
DOCS = ROOT / "docs" / "payments.md"
MARK_START, MARK_END = "<!-- bench:callbacks:start -->", "<!-- bench:callbacks:end -->"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _check_loopback(url: str, what: str) -> None:
    host = urlparse(url).hostname or ""
    if host not in LOOPBACK:
        raise SystemExit(f"{what} must be on the loopback interface, not {host!r}")


def _body(run: str, n: int, references: list[str] | None = None) -> bytes:
    """A C2B confirmation: a repayment of one of `references` round robin, else unmatched."""
    reference = references[n % len(references)] if references else f"NOLOAN{n % 97}"
    return json.dumps({
        "TransactionType": "Pay Bill", "TransID": f"B{run}{n:07d}",
        "TransTime": "20261128101502", "TransAmount": "100.00" if references else "500.00",
        "BusinessShortCode": "600981", "BillRefNumber": reference,
        "InvoiceNumber": "", "OrgAccountBalance": "184230.00", "ThirdPartyTransID": "",
        "MSISDN": "25471****101", "FirstName": "Bench", "MiddleName": "", "LastName": "",
    }).encode()


# --- the load generator (client processes, each with threads on keep-alive connections) ---


def _request(port: int, body: bytes) -> bytes:
    """The whole HTTP/1.1 request, built before the clock starts."""
    head = (f"POST /mpesa/{TOKEN}/c2b/confirmation HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nConnection: keep-alive\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def _read_response(sock: socket.socket, buffer: bytes) -> tuple[int, bytes]:
    """Read one response off a keep-alive connection; returns (status, bytes left over)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        rest += chunk
    return status, rest[length:]


def _client_thread(port: int, requests: list[bytes], latencies: list[float],
                   errors: list[int]) -> None:
    # Raw sockets: the load generator shares the machine, so it must cost little CPU.
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    buffer = b""
    for request in requests:
        started = time.perf_counter()
        try:
            sock.sendall(request)
            status, buffer = _read_response(sock, buffer)
        except (OSError, ValueError):
            sock.close()
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            buffer, status = b"", 0
        latencies.append(time.perf_counter() - started)
        if status != 200:
            errors.append(status)
    sock.close()


def _client_process(port: int, requests: list[bytes], threads: int,
                    queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    latencies: list[float] = []
    errors: list[int] = []
    workers = [threading.Thread(target=_client_thread,
                                args=(port, requests[i::threads], latencies, errors))
               for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    queue.put((latencies, errors, usage.ru_utime + usage.ru_stime))


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU consumed so far by these processes (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def _group_pids(leader: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == leader:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _postgres_backends(db: Database | None) -> list[int]:
    """Server processes serving this benchmark's database (their CPU is part of the cost)."""
    if db is None:
        return []
    with db.engine.connect() as conn:
        return [int(pid) for pid in conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()").scalars()]


def fire(port: int, bodies: list[bytes], clients: int, threads: int,
         server_pids: list[int] | None = None, db: Database | None = None) -> dict[str, float]:
    """POST every body; return the rate, latency percentiles and CPU per callback by part."""
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    requests = [_request(port, body) for body in bodies]
    procs = [multiprocessing.Process(target=_client_process,
                                     args=(port, requests[i::clients], threads, queue))
             for i in range(clients)]
    backends = _postgres_backends(db)
    cpu_before = _cpu_seconds(server_pids or [])
    pg_before = _cpu_seconds(backends)
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    elapsed = time.perf_counter() - started
    server_cpu = _cpu_seconds(server_pids or []) - cpu_before
    postgres_cpu = _cpu_seconds(backends) - pg_before
    for proc in procs:
        proc.join()
    latencies = sorted(lat for lats, _, _ in results for lat in lats)
    errors = [e for _, errs, _ in results for e in errs]
    client_cpu = sum(cpu for _, _, cpu in results)
    return {
        "requests": len(bodies), "errors": len(errors), "seconds": elapsed,
        "per_second": len(bodies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1],
        "server_cpu_ms": 1000 * server_cpu / len(bodies),
        "client_cpu_ms": 1000 * client_cpu / len(bodies),
        "postgres_cpu_ms": 1000 * postgres_cpu / len(bodies),
    }


# --- processes ---------------------------------------------------------------------------------


def _env(database_url: str, redis_url: str, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(MKOPO_ENV="test", DATABASE_URL=database_url, REDIS_URL=redis_url,
               CALLBACK_TOKEN=TOKEN, SECRET_KEY="bench", PIN_PEPPER="bench",
               PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", MOBILE_MONEY_PROVIDER="simulator",
               LOG_LEVEL="WARNING")
    return env


def start_web(env: dict[str, str], port: int, workers: int, threads: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "gateway:create_app()", "--bind",
         f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
         "--worker-class", "gthread", "--backlog", "1024", "--keep-alive", "30", "--preload"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def start_workers(env: dict[str, str], count: int) -> list[subprocess.Popen]:  # type: ignore[type-arg]
    """`flask worker` processes as the Procfile runs them, each in its own process group."""
    return [subprocess.Popen([sys.executable, "-m", "flask", "--app", "gateway", "worker"],
                             cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
            for _ in range(count)]


def signal_groups(procs: list[subprocess.Popen], sig: int) -> None:  # type: ignore[type-arg]
    for proc in procs:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass


def stop(procs: list[subprocess.Popen]) -> None:  # type: ignore[type-arg]
    signal_groups(procs, signal.SIGCONT)
    signal_groups(procs, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            signal_groups([proc], signal.SIGKILL)
            proc.wait(timeout=10)


def _pg_cpu(db: Database) -> dict[int, float]:
    """CPU seconds so far of every PostgreSQL backend serving this benchmark's database."""
    return {pid: _cpu_seconds([pid]) for pid in _postgres_backends(db)}


def _pg_cpu_since(db: Database, before: dict[int, float]) -> float:
    # a backend that connected meanwhile (a worker's pool growing) counts from zero
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in _pg_cpu(db).items())


def _progress(db: Database, run: str) -> tuple[int, Any, int, Any]:
    """(callbacks of this batch processed, the last processed_at, SMS still pending, last sent)."""
    from core.outbox import OutboxItem
    from payments.models import CallbackInbox

    with db.transaction() as session:
        done, last = session.execute(
            select(func.count(CallbackInbox.id), func.max(CallbackInbox.processed_at))
            .where(CallbackInbox.external_id.like(f"B{run}%"),
                   CallbackInbox.status != "received")).one()
        pending = session.scalar(select(func.count(OutboxItem.id)).where(
            OutboxItem.queue == "sms", OutboxItem.status == "pending")) or 0
        sent = session.scalar(select(func.max(OutboxItem.done_at)).where(
            OutboxItem.queue == "sms"))
    return int(done), last, int(pending), sent


def wait_until_done(db: Database, run: str, expected: int, timeout: float = 1800) -> tuple:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, last, pending, sent = _progress(db, run)
        if done >= expected and pending == 0:
            return done, last, sent
        time.sleep(0.5)
    raise SystemExit(f"batch {run}: only {done}/{expected} processed, {pending} SMS pending "
                     f"after {timeout:.0f} s")


def set_aside_seed_messages(db: Database, redis_url: str) -> None:
    """The seeding's own outbox items (approval SMS, payouts) are not the callbacks' work."""
    from redis import Redis
    from rq import Queue
    from sqlalchemy import update

    from core.jobs import QUEUES
    from core.outbox import OutboxItem

    with db.transaction() as session:
        session.execute(update(OutboxItem).where(OutboxItem.status == "pending")
                        .values(status="done", last_error="set aside by callbacks_bench"))
    redis = Redis.from_url(redis_url)
    for name in QUEUES:
        Queue(name, connection=redis).empty()
    for key in redis.scan_iter("mkopo:drain:*"):
        redis.delete(key)


def run_batch(port: int, db: Database, bodies: list[bytes], run: str, args: argparse.Namespace,
              web_pids: list[int], workers: list[subprocess.Popen],  # type: ignore[type-arg]
              backlog: bool) -> dict[str, Any]:
    """Post the batch; live: the workers drain it as it comes; backlog: they are paused
    (SIGSTOP) while it is posted, then let go. Times and CPU by process kind."""
    worker_pids = [pid for w in workers for pid in _group_pids(w.pid)]
    load_before = os.getloadavg()
    if backlog:
        signal_groups(workers, signal.SIGSTOP)
    worker_cpu = _cpu_seconds(worker_pids)
    pg_before = _pg_cpu(db)
    web_cpu = _cpu_seconds(web_pids)
    started_wall = time.time()
    accepted = fire(port, bodies, args.clients, args.threads)
    released_wall = time.time()
    if backlog:
        signal_groups(workers, signal.SIGCONT)
    done, last, sent = wait_until_done(db, run, len(bodies))
    n = len(bodies)
    worker_cpu = _cpu_seconds(worker_pids) - worker_cpu
    first = released_wall if backlog else started_wall
    processed_seconds = max(last.timestamp() - first, 1e-6)
    return {
        "mode": "backlog" if backlog else "live", "callbacks": n,
        "accepted_per_second": accepted["per_second"], "errors": accepted["errors"],
        "p99_ms": accepted["p99_ms"],
        "processed_per_second": n / processed_seconds,
        "with_receipts_per_second": n / max(sent.timestamp() - first, 1e-6) if sent else
        float("nan"),
        "web_cpu_ms": 1000 * (_cpu_seconds(web_pids) - web_cpu) / n,
        "worker_cpu_ms": 1000 * worker_cpu / n,
        "postgres_cpu_ms": 1000 * _pg_cpu_since(db, pg_before) / n,
        "client_cpu_ms": accepted["client_cpu_ms"],
        "load": " ".join(f"{x:.1f}" for x in load_before) + " -> " +
                " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def verify_books(db: Database, keys: list[str]) -> str:
    """Every repayment posted exactly once, and the ledger verifies with a zero trial balance."""
    import ledger
    from lending.models import Repayment

    with db.transaction() as session:
        rows = 0
        distinct = 0
        for start in range(0, len(keys), 1000):
            part = keys[start:start + 1000]
            rows += session.scalar(select(func.count(Repayment.id))
                                   .where(Repayment.key.in_(part))) or 0
            distinct += session.scalar(select(func.count(func.distinct(Repayment.key)))
                                       .where(Repayment.key.in_(part))) or 0
        entries = session.scalar(select(func.count(ledger.JournalEntry.id)).where(
            ledger.JournalEntry.key.in_([f"repayment:{k}" for k in keys]))) or 0
        ok = ledger.verify(session).ok and ledger.trial_balance(session).balanced
    verdict = (rows == distinct == entries == len(keys)) and ok
    return (f"{'OK' if verdict else 'NOT OK'}: {len(keys)} callbacks, {rows} repayments "
            f"({distinct} distinct keys), {entries} journal entries; ledger.verify and a zero "
            f"trial balance: {'yes' if ok else 'NO'}")


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="callbacks per batch")
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes")
    parser.add_argument("--threads", type=int, default=8, help="connections per client")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--worker-processes", type=int, default=2, help="rq workers")
    parser.add_argument("--modes", default="live,backlog",
                        help="batches to run: live (workers drain while callbacks arrive), "
                             "backlog (callbacks stored first, then drained)")
    parser.add_argument("--private-redis", action="store_true",
                        help="start a throwaway redis-server on loopback instead of REDIS_URL "
                             "(on a shared machine, others may flush a shared database)")
    parser.add_argument("--loans", type=int, default=300,
                        help="running loans (5 lenders each) seeded; every callback is a KES "
                             "100 repayment of one of them")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)

    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    private_redis = _start_private_redis() if args.private_redis else None
    if private_redis is not None:
        redis_url = private_redis[1]
    if not database_url.startswith("postgres") or not redis_url:
        raise SystemExit("set DATABASE_URL (PostgreSQL) and REDIS_URL (or --private-redis)")
    _check_loopback(database_url, "DATABASE_URL")
    _check_loopback(redis_url, "REDIS_URL")
    sqlalchemy_url = normalize_database_url(database_url)
    upgrade(sqlalchemy_url)
    db = Database(sqlalchemy_url)
    references = _seed_loans(redis_url, args.loans)
    set_aside_seed_messages(db, redis_url)

    port = _free_port()
    env = _env(database_url, redis_url, port)
    web = start_web(env, port, args.web_workers, args.web_threads)
    workers = start_workers(env, args.worker_processes)
    run = datetime.now().strftime("%H%M%S")
    keys: list[str] = []
    batches = []
    try:
        warm = f"{run}W"
        fire(port, [_body(warm, n, references) for n in range(200)], args.clients, args.threads)
        wait_until_done(db, warm, 200)
        keys += [f"B{warm}{n:07d}" for n in range(200)]
        web_pids = _group_pids(web.pid)
        for i, mode in enumerate(args.modes.split(",")):
            batch = f"{run}{i}"
            bodies = [_body(batch, n, references) for n in range(args.requests)]
            batches.append(run_batch(port, db, bodies, batch, args, web_pids, workers,
                                     backlog=mode == "backlog"))
            keys += [f"B{batch}{n:07d}" for n in range(args.requests)]
            print(batches[-1], flush=True)
    finally:
        stop(workers)
        web.terminate()
        web.wait(timeout=30)
        if private_redis is not None:
            private_redis[0].terminate()
            private_redis[0].wait(timeout=30)
    verdict = verify_books(db, keys)
    db.dispose()
    report = _report(args, batches, verdict)
    print(report)
    if args.write_docs:
        _write_docs(report)
    return 0 if verdict.startswith("OK") else 1


def _seed_loans(redis_url: str, count: int) -> list[str]:
    """Running loans through the real services (as bench/ledger_bench.py builds them)."""
    import random

    import ledger_bench

    from core import runtime
    from core.runtime import Runtime
    from core.settings import Settings
    from lending.models import Loan

    os.environ["REDIS_URL"] = redis_url
    rt = runtime.configure(Runtime(Settings.from_env()))
    began = time.perf_counter()
    ids = ledger_bench.set_up(rt.db, random.randrange(10_000), count)
    with rt.db.transaction() as session:
        references = list(session.scalars(select(Loan.reference).where(Loan.id.in_(ids))))
    rt.db.dispose()
    print(f"seeded {count} running loans in {time.perf_counter() - began:.0f} s", flush=True)
    return references


def _start_private_redis() -> tuple[subprocess.Popen, str]:  # type: ignore[type-arg]
    """A redis-server of our own on a free loopback port, nothing written to disk."""
    port = _free_port()
    proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port),
                             "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def _report(args: argparse.Namespace, batches: list[dict[str, Any]], verdict: str) -> str:
    lines = [
        f"Machine: {os.cpu_count()} cores shared by everything below (and whatever else runs; "
        "load average before -> after each batch in the last column). gunicorn "
        f"{args.web_workers} workers x {args.web_threads} threads; {args.worker_processes} "
        f"`flask worker` processes; load from {args.clients} client processes x "
        f"{args.threads} keep-alive connections. Every callback is a KES 100 paybill "
        f"repayment of one of {args.loans} running loans (5 lenders each), with its receipt SMS.",
        "",
        "| mode | callbacks | accepted/s | p99 ms | errors | processed/s | with receipts "
        "sent /s | CPU ms per callback: gunicorn / workers / PostgreSQL / client | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for b in batches:
        lines.append(
            f"| {b['mode']} | {b['callbacks']} | {b['accepted_per_second']:.0f} | "
            f"{b['p99_ms']:.0f} | {b['errors']} | {b['processed_per_second']:.0f} | "
            f"{b['with_receipts_per_second']:.0f} | {b['web_cpu_ms']:.2f} / "
            f"{b['worker_cpu_ms']:.2f} / {b['postgres_cpu_ms']:.2f} / "
            f"{b['client_cpu_ms']:.2f} | {b['load']} |")
    lines += ["", f"Books: {verdict}.",
              "", "live: workers drain while the callbacks arrive; processed/s counts from the "
              "first POST to the last callback processed. backlog: the workers are paused "
              "(SIGSTOP) while the batch is stored, then let go; counted from then."]
    return "\n".join(lines)


def _write_docs(report: str) -> None:
    text = DOCS.read_text() if DOCS.exists() else ""
    block = f"{MARK_START}\n{report}\n{MARK_END}"
    pattern = re.compile(re.escape(MARK_START) + ".*?" + re.escape(MARK_END), re.S)
    DOCS.write_text(pattern.sub(block, text) if pattern.search(text) else text + block + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
