"""Load test for `/ussd`: gunicorn on PostgreSQL + Redis, against a bare endpoint as ceiling.

    DATABASE_URL=postgresql://… REDIS_URL=redis://127.0.0.1:6379/14 MKOPO_USSD_FAKE=1 \\
        .venv/bin/python bench/ussd_load.py --concurrency 100 --sessions 1000

One gunicorn serves both the real app and `/bench/ceiling` (a Flask view that
answers `END ok` and touches nothing), so the difference between the two is
what the engine, Redis and the domain cost. Clients are threads with keep-alive
httpx connections on loopback, each playing a bounded number of realistic
sessions (balance, statement, apply, repay, help). With MKOPO_USSD_FAKE=1 the
domain is the in-memory fake (every phone a member, PIN 1357): Redis and the
engine are measured, the database is not. Without it, `menus.adapters` must exist.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from flask import Flask, Response

ROOT = Path(__file__).resolve().parents[1]
PIN = "1357"
SCENARIOS: tuple[tuple[str, ...], ...] = (
    ("1", PIN),  # my balance
    ("4", PIN, "98"),  # mini statement, second page
    ("2", "1", "5000", "1", "1", "1", PIN),  # apply, accept, sign
    ("3", "1", PIN, "1"),  # repay the next installment
    ("6",),  # help
)


def bench_app() -> Flask:
    """The real app plus a bare endpoint: the ceiling of this server and machine."""
    from gateway import create_app

    app = create_app()
    app.add_url_rule("/bench/ceiling", "bench_ceiling", _ceiling, methods=["POST"])
    return app


def _ceiling() -> Response:
    return Response("END ok", mimetype="text/plain")


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, ok: bool) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.errors += 0 if ok else 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(port: int, workers: int, threads: int) -> subprocess.Popen[bytes]:
    """Start gunicorn on loopback and wait until it answers."""
    command = [
        str(Path(sys.executable).with_name("gunicorn")), "--chdir", str(ROOT),
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
        "--worker-class", "gthread", "--log-level", "warning", "bench.ussd_load:bench_app()",
    ]
    env = {**os.environ, "MKOPO_ENV": os.environ.get("MKOPO_ENV", "development"),
           "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not come up within 30 s")


def _form(session_id: str, phone: str, text: str) -> dict[str, str]:
    return {"sessionId": session_id, "serviceCode": "*384*123#", "phoneNumber": phone,
            "networkCode": "63902", "text": text}


def play(base: str, path: str, client_no: int, sessions: int, run: Run) -> None:
    """One client: `sessions` sessions in a row, each a scenario step by step."""
    with httpx.Client(base_url=base, timeout=10) as http:
        for n in range(sessions):
            scenario = SCENARIOS[(client_no + n) % len(SCENARIOS)]
            phone = f"+25471{client_no * 10_000 + n:07d}"
            session_id = f"bench-{uuid.uuid4().hex}"
            for step in range(len(scenario) + 1):
                started = time.perf_counter()
                try:
                    response = http.post(path, data=_form(session_id, phone,
                                                          "*".join(scenario[:step])))
                    ok = response.status_code == 200 and response.text[:4] in ("CON ", "END ")
                except httpx.HTTPError:
                    ok = False
                run.add(time.perf_counter() - started, ok)


def drive(base: str, path: str, concurrency: int, sessions: int) -> tuple[Run, float]:
    """Run `concurrency` clients sharing `sessions` sessions; returns results and wall time."""
    run = Run()
    per_client = max(1, sessions // concurrency)
    clients = [threading.Thread(target=play, args=(base, path, c, per_client, run))
               for c in range(concurrency)]
    started = time.perf_counter()
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    return run, time.perf_counter() - started


def report(name: str, run: Run, wall: float) -> None:
    cuts = statistics.quantiles(run.latencies, n=100)
    print(f"{name:>8}: {len(run.latencies):6d} requests  p50 {cuts[49] * 1000:7.2f} ms  "
          f"p99 {cuts[98] * 1000:7.2f} ms  {len(run.latencies) / wall:8.1f} req/s  "
          f"errors {run.errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=1000, help="USSD sessions in total")
    parser.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 2)))
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    if missing:
        raise SystemExit(f"set {', '.join(missing)}: the bench runs on PostgreSQL and Redis")
    port = _free_port()
    server = start_server(port, args.workers, args.threads)
    base = f"http://127.0.0.1:{port}"
    try:
        drive(base, "/ussd", min(10, args.concurrency), 20)  # warm the workers' pools
        ceiling, ceiling_wall = drive(base, "/bench/ceiling", args.concurrency, args.sessions)
        ussd, ussd_wall = drive(base, "/ussd", args.concurrency, args.sessions)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"gunicorn gthread {args.workers}x{args.threads}, {args.concurrency} clients, "
          f"fake domain: {os.environ.get('MKOPO_USSD_FAKE') == '1'}")
    report("ceiling", ceiling, ceiling_wall)
    report("ussd", ussd, ussd_wall)


if __name__ == "__main__":
    main()
