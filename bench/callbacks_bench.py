"""Benchmark M-Pesa callbacks: accepted per second over HTTP, processed per second by workers.

    createdb -h 127.0.0.1 -U postgres mkopo_payments_bench
    DATABASE_URL=postgresql://postgres@127.0.0.1/mkopo_payments_bench \\
    REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/callbacks_bench.py
    # or, on a machine whose Redis others use too: … bench/callbacks_bench.py --private-redis

Starts gunicorn (gthread) on 127.0.0.1, fires a bounded number of distinct
C2B confirmations at `/mpesa/<token>/c2b/confirmation` from client processes
over keep-alive connections, and times HTTP → inbox INSERT + COMMIT → rq
enqueue → 200. Then `flask worker --burst` processes work the backlog (each
callback: match, Dr float / Cr suspense, a break), timed from the first to
the last `processed_at`. Everything stays on the loopback interface; the
database is migrated, and rows are added under fresh keys, so it can be reused
(it should not be a production one). `--write-docs` records the figures in
docs/payments.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
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


def process_backlog(env: dict[str, str], db: Database, run: str, workers: int,
                    expected: int) -> dict[str, float]:
    """Work the queued callbacks with `workers` burst workers; rate from the rows' own times."""
    from payments.models import CallbackInbox

    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    procs = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "gateway", "worker",
                               "--burst"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(workers)]
    for proc in procs:
        proc.wait(timeout=900)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = sum(getattr(children_after, f) - getattr(children_before, f)
                     for f in ("ru_utime", "ru_stime"))
    mine = CallbackInbox.external_id.like(f"B{run}%")
    with db.transaction() as session:
        done, first, last = session.execute(
            select(func.count(CallbackInbox.id), func.min(CallbackInbox.processed_at),
                   func.max(CallbackInbox.processed_at))
            .where(mine, CallbackInbox.status != "received")).one()
    seconds = max((last - first).total_seconds(), 1e-6) if first and last else float("nan")
    return {"workers": workers, "processed": done, "expected": expected, "seconds": seconds,
            "per_second": done / seconds,
            # the burst workers go on to the SMS the payments queued, so this is all their work
            "worker_cpu_ms": worker_cpu * 1000 / max(done, 1)}


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes")
    parser.add_argument("--threads", type=int, default=8, help="connections per client")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--worker-processes", default="1,2",
                        help="comma-separated numbers of rq workers to time, one batch each")
    parser.add_argument("--private-redis", action="store_true",
                        help="start a throwaway redis-server on loopback instead of REDIS_URL "
                             "(on a shared machine, others may flush a shared database)")
    parser.add_argument("--accept-only", action="store_true",
                        help="time accepting only; the backlog is dropped from the queue")
    parser.add_argument("--loans", type=int, default=0,
                        help="seed this many running loans (5 lenders each) and make every "
                             "callback a KES 100 repayment of one of them; 0: unmatched "
                             "payments, parked in suspense")
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
    _empty_payments_queue(redis_url)
    references = _seed_loans(redis_url, args.loans) if args.loans else None

    port = _free_port()
    env = _env(database_url, redis_url, port)
    web = start_web(env, port, args.web_workers, args.web_threads)
    run = datetime.now().strftime("%H%M%S")
    results: dict[str, object] = {"cores": os.cpu_count(), "web_workers": args.web_workers,
                                  "loans": args.loans,
                                  "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
                                  "web_threads": args.web_threads, "clients": args.clients,
                                  "client_threads": args.threads}
    try:
        fire(port, [_body(f"W{run}", n) for n in range(300)], args.clients, args.threads)
        server = _group_pids(web.pid)
        _empty_payments_queue(redis_url)
        accepted, processed = [], []
        for i, workers in enumerate(int(n) for n in args.worker_processes.split(",")):
            batch = f"{run}{i}"
            bodies = [_body(batch, n, references) for n in range(args.requests)]
            accepted.append(fire(port, bodies, args.clients, args.threads, server, db))
            if args.accept_only:
                _empty_payments_queue(redis_url)
                processed.append({"workers": 0, "processed": 0, "expected": args.requests,
                                  "per_second": float("nan")})
            else:
                processed.append(process_backlog(env, db, batch, workers, args.requests))
        results["accepted"], results["processed"] = accepted, processed
    finally:
        web.terminate()
        web.wait(timeout=30)
        db.dispose()
        if private_redis is not None:
            private_redis[0].terminate()
            private_redis[0].wait(timeout=30)
    report = _report(results)
    print(report)
    if args.write_docs:
        _write_docs(report)
    return 0


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


def _empty_payments_queue(redis_url: str) -> None:
    from redis import Redis
    from rq import Queue

    Queue("payments", connection=Redis.from_url(redis_url)).empty()


def _report(results: dict) -> str:  # type: ignore[type-arg]
    cores = results["cores"]
    lines = [
        f"Machine: {cores} cores, shared with the load generator (and with whatever else "
        f"runs: load average {results['load']}). gunicorn {results['web_workers']} workers x "
        f"{results['web_threads']} threads (gthread); load from {results['clients']} client "
        f"processes x {results['client_threads']} keep-alive connections.",
        "",
        ("Every callback is a KES 100 repayment of one of "
         f"{results['loans']} running loans (5 lenders each): allocation, the ledger entry, "
         "lenders' shares, the receipt queued." if results["loans"] else
         "Every callback is a payment with an unknown account number: parked in suspense, "
         "a reconciliation break."),
        "",
        "| batch | callbacks | accepted/s | p50 ms | p99 ms | errors | CPU ms per callback: "
        "gunicorn / client / PostgreSQL | rq workers | processed/s | worker CPU ms per "
        "callback (with its SMS) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, (acc, proc) in enumerate(zip(results["accepted"], results["processed"], strict=True)):
        lines.append(
            f"| {n + 1} | {acc['requests']} | {acc['per_second']:.0f} | {acc['p50_ms']:.1f} | "
            f"{acc['p99_ms']:.1f} | {acc['errors']} | {acc['server_cpu_ms']:.2f} / "
            f"{acc['client_cpu_ms']:.2f} / {acc['postgres_cpu_ms']:.2f} | {proc['workers']} | "
            f"{proc['per_second']:.0f} ({proc['processed']}/{proc['expected']}) | "
            f"{proc.get('worker_cpu_ms', float('nan')):.1f} |")
    best = min(acc["server_cpu_ms"] + acc["postgres_cpu_ms"] for acc in results["accepted"])
    lines += ["", f"CPU bound: with the {cores} cores to itself (load generator elsewhere), "
              f"accepting would top out near {cores * 1000 / best:.0f}/s "
              f"({best:.2f} ms of gunicorn + PostgreSQL CPU per callback)."]
    return "\n".join(lines)


def _write_docs(report: str) -> None:
    text = DOCS.read_text() if DOCS.exists() else ""
    block = f"{MARK_START}\n{report}\n{MARK_END}"
    pattern = re.compile(re.escape(MARK_START) + ".*?" + re.escape(MARK_END), re.S)
    DOCS.write_text(pattern.sub(block, text) if pattern.search(text) else text + block + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
