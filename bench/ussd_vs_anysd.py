"""Side by side (issue 14): Mkopo's `/ussd` beside the same balance menu on anysd, one run.

    .venv/bin/python bench/ussd_vs_anysd.py               # ~1 minute, plus seeding the first time
    .venv/bin/python bench/ussd_vs_anysd.py --reuse-db --seconds 20

Four servers, one after the other (never two at once), each a gunicorn with the same
settings (gthread, --size WORKERSxTHREADS, 2x4 by default) under the same load: --phones
phones (16) in a closed loop, each walking its own sessions in order (dial, answer, answer;
then a new session), no think time, one keep-alive HTTP/1.1 connection per phone:

1. bare    `bench.ussd_load:bare_app()`: a Flask view that answers `END ok`, the ceiling
           of this machine, server and HTTP stack.
2. anysd   `bench/anysd/app.py`: dial -> "1. Balance" -> 1 -> "Enter your PIN" -> 1*1357 ->
           END balance, on anysd (Flask + a Redis session helper), a fixed balance, no
           database; in its own venv `.venv-bench-anysd` (bench/anysd/requirements.txt: anysd
           needs redis 4.x), made when missing or when the requirements change.
3. menu    Mkopo `/ussd`, no PIN: dial (home menu) -> 6 (help) -> 6*0 (back: the home menu).
4. PIN     Mkopo `/ussd`, the balance with a PIN: dial -> 1 (Enter your PIN) -> 1*1357 (the
           loan, its balance and the credit limit), the PIN verified by the real keyed HMAC.

Mkopo runs in production mode on PostgreSQL + Redis over the database `bench/ussd_load.py`
seeds (the same seeding; PIN 1357 for every phone); its phones are seeded borrowers with
running loans. Every screen is checked (CON/END and the words it must show, in the phone's
language); errors and unexpected screens are counted and printed, and a session stops at
the first wrong screen. CPU per request is measured from /proc for the gunicorn workers,
the database's PostgreSQL backends, Redis (the whole server) and this load generator,
beside how busy the machine was with other work. Per request too: Redis commands and round
trips in the bench's Redis database (MONITOR over one session of each phone after the
measurement) and PostgreSQL transactions of the bench database.

Then the ratios the issue's targets use: Mkopo PIN path / anysd (>= 1.0x, stretch 2x),
Mkopo menu path / bare (>= 0.5), p99 of the Mkopo paths (<= 50 ms at 16 phones).

Environment (optional): BENCH_DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/mkopo_bench_side; dropped and seeded again unless
--reuse-db, so its name must contain "bench"), BENCH_REDIS_URL (default
redis://127.0.0.1:6379/9; flushed between servers).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.ussd_load import (  # noqa: E402
    DEFAULT_REDIS_URL,
    HEADER,
    PIN,
    Connection,
    CpuMeter,
    Result,
    Server,
    Texts,
    World,
    dedicated,
    open_world,
    percentile,
    print_result,
    reset_world,
    revision,
    server_env,
    ussd_step,
)

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/mkopo_bench_side"
ANYSD_DIR = ROOT / "bench" / "anysd"
ANYSD_VENV = ROOT / ".venv-bench-anysd"
ANYSD_REQUIREMENTS = ANYSD_DIR / "requirements.txt"
# what bench/anysd/app.py shows (it runs in another venv: not imported here)
ANYSD_HOME = ("Main Menu:", "1. Balance")
ANYSD_ENTER_PIN = "Enter your PIN"
ANYSD_BALANCE = "Your balance is KES 1,234.00"
WARM_UP = 2.0  # seconds of load before each measured run: imports, pools, caches
TARGETS = {"pin/anysd": 1.0, "menu/bare": 0.5, "p99 ms": 50.0}


# --- what each path shows, screen by screen ---------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """One request of a session and what its screen must be."""

    answer: str | None  # what the phone adds to `text`; None: the dial (text "")
    prefix: str  # "CON " or "END "
    markers: tuple[str, ...]  # each of these in the screen
    pin: bool = False  # the request checks a PIN


Walk = tuple[Expect, ...]


def texts_sent(walk: Walk) -> list[str]:
    """The `text` field of each request: every answer so far joined by `*`."""
    answers: list[str] = []
    sent = []
    for step in walk:
        if step.answer is not None:
            answers.append(step.answer)
        sent.append("*".join(answers))
    return sent


def problem(expect: Expect, status: int, screen: str) -> str | None:
    """None if the screen is what the step should show, else "error" (no USSD answer at
    all: a failed request, a status other than 200, no CON/END) or "unexpected"."""
    if status != 200 or screen[:4] not in ("CON ", "END "):
        return "error"
    if not screen.startswith(expect.prefix) or any(m not in screen for m in expect.markers):
        return "unexpected"
    return None


BARE_WALK: Walk = tuple(Expect(answer, "END ", ("ok",)) for answer in (None, "1", "1"))
ANYSD_WALK: Walk = (
    Expect(None, "CON ", ANYSD_HOME),
    Expect("1", "CON ", (ANYSD_ENTER_PIN,)),
    Expect(PIN, "END ", (ANYSD_BALANCE,), pin=True),
)


def menu_walk(t: Texts, lang: str) -> Walk:
    """Mkopo without a PIN: the home menu, help, back to the home menu."""
    from menus.flows.account import HELP_TEXT

    home = Expect(None, "CON ", (t(lang, "My balance"),))
    return (home, Expect("6", "CON ", (t(lang, HELP_TEXT),)),
            Expect("0", "CON ", home.markers))


def pin_walk(t: Texts, lang: str) -> Walk:
    """Mkopo's balance: the home menu, the PIN prompt, the balance after the PIN (a menu
    screen with Back and Home: the phone hangs up there)."""
    from menus.flows.loans import CREDIT_LIMIT
    from menus.nodes import ENTER_PIN

    return (Expect(None, "CON ", (t(lang, "My balance"),)),
            Expect("1", "CON ", (t(lang, ENTER_PIN),)),
            Expect(PIN, "CON ", (t(lang, CREDIT_LIMIT),), pin=True))


# --- the closed loop ------------------------------------------------------------------------


async def walk_session(connection: Connection, number: str, walk: Walk, result: Result,
                       deadline: float) -> None:
    """One session of one phone, request after request, each screen checked; a wrong screen
    ends it (counted, and a few kept as samples). No request starts after `deadline`."""
    session_id = f"ATUid_{uuid.uuid4().hex}"
    result.journeys["sessions"] += 1
    for n, (step, text) in enumerate(zip(walk, texts_sent(walk), strict=True), 1):
        if time.perf_counter() >= deadline:
            return
        status, screen, took = await ussd_step(connection, session_id, number, text)
        (result.argon if step.pin else result.other).append(took)
        found = problem(step, status, screen)
        if found is None:
            continue
        if found == "error":
            result.errors += 1
        else:
            result.unexpected[f"step {n}"] += 1
        if len(result.samples) < 4:
            result.samples.append(f"step {n} {text!r}: {status} {screen[:150]!r}")
        return


async def closed_loop(name: str, port: int, phones: list[tuple[str, Walk]],
                      seconds: float) -> Result:
    """Each phone walks its sessions in order, one request at a time, until `seconds` end."""
    result = Result(name)
    started = time.perf_counter()
    deadline = started + seconds

    async def sessions_of(number: str, walk: Walk) -> None:
        connection = Connection(port)
        try:
            while time.perf_counter() < deadline:
                await walk_session(connection, number, walk, result, deadline)
        finally:
            connection.close()

    await asyncio.gather(*(sessions_of(number, walk) for number, walk in phones))
    result.wall = time.perf_counter() - started
    return result


async def one_session_each(port: int, phones: list[tuple[str, Walk]]) -> Result:
    """Every phone walks one session, one phone after another (nothing else in flight)."""
    result = Result("probe")
    connection = Connection(port)
    try:
        for number, walk in phones:
            await walk_session(connection, number, walk, result, float("inf"))
    finally:
        connection.close()
    return result


# --- the anysd server's venv and settings ---------------------------------------------------


def anysd_gunicorn(venv: Path = ANYSD_VENV, requirements: Path = ANYSD_REQUIREMENTS) -> str:
    """gunicorn of the anysd venv, made (or brought in line with the requirements) first."""
    python, stamp = venv / "bin" / "python", venv / "requirements.txt"
    wanted = requirements.read_text()
    if not python.exists():
        print(f"making {venv} for anysd (python3 -m venv; pip install -r {requirements.name})",
              flush=True)
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
                       check=True)
        stamp.write_text(wanted)
    return str(venv / "bin" / "gunicorn")


def anysd_config(redis_url: str) -> str:
    """anysd's config file (YAML, under ENVIRONMENT's name) for the bench's Redis database."""
    parts = urlsplit(redis_url)
    lines = ["development:", "  redis:", f"    host: {parts.hostname or '127.0.0.1'}",
             f"    port: {parts.port or 6379}", f"    db: {int(parts.path.lstrip('/') or 0)}"]
    if parts.password:
        lines.append(f"    password: {parts.password!r}")
    return "\n".join(lines) + "\n"


# --- what else a request costs: Redis commands and PostgreSQL transactions -------------------


def transactions(runtime: Any, database: str) -> int:
    """Transactions `database` has committed or rolled back (a backend publishes its own when
    it ends at the latest: read after the server stopped)."""
    from sqlalchemy import text

    with runtime.db.engine.connect() as connection:
        return int(connection.execute(text(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :name"),
            {"name": database}).scalar_one())


MONITOR_END = "ussd-vs-anysd: probe done"


@dataclass
class RedisUse:
    """Redis work per request: commands, and round trips (a MULTI..EXEC block is one)."""

    commands: float = 0.0
    round_trips: float = 0.0


SCRIPT_CALLS = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})


def count_redis(commands: list[tuple[str, str]]) -> tuple[int, int]:
    """(commands, round trips) in a MONITOR log of (client, command). A script call is one
    round trip and its commands (client "lua") count each; so do the commands of a
    MULTI..EXEC block, one round trip. SELECT (a connection opening) is left out."""
    in_multi: set[str] = set()
    total = trips = 0
    for client, command in commands:
        name = command.split(" ", 1)[0].upper()
        if client.startswith("lua"):
            total += 1
        elif name == "EXEC":
            in_multi.discard(client)
        elif name == "SELECT":
            continue
        elif name in SCRIPT_CALLS:
            trips += client not in in_multi
        elif name == "MULTI":
            in_multi.add(client)
            trips += 1
        else:
            total += 1
            trips += client not in in_multi
    return total, trips


def redis_use(runtime: Any, port: int, phones: list[tuple[str, Walk]]) -> tuple[RedisUse, int]:
    """Redis work per request in the bench's Redis database only, seen by MONITOR over one
    session of each phone, one at a time (MONITOR is costly for Redis, so never during a
    measurement); and how many requests the probe made."""
    db = int(runtime.redis.connection_pool.connection_kwargs.get("db", 0))
    seen: list[tuple[str, str]] = []
    with runtime.redis.monitor() as monitor:  # MONITOR answered OK: it sees all that follows
        probe = asyncio.run(one_session_each(port, phones))
        runtime.redis.echo(MONITOR_END)
        while True:
            command = monitor.next_command()
            if MONITOR_END in command["command"]:
                break
            if command["db"] == db:
                seen.append((f"{command['client_address']}:{command['client_port']}",
                             command["command"]))
    total, trips = count_redis(seen)
    requests = max(probe.requests, 1)
    return RedisUse(total / requests, trips / requests), probe.requests


# --- reporting ------------------------------------------------------------------------------


@dataclass
class PathRun:
    label: str
    result: Result
    redis: RedisUse
    transactions_per_request: float
    load_average: float


def latencies_ms(result: Result) -> list[float]:
    return [seconds * 1000 for seconds in result.argon + result.other]


SUMMARY = (f"{'path':<10} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6}   "
           f"{'gunicorn':>8} {'postgres':>8} {'redis':>6} {'gen':>5}   "
           f"{'redis cmd':>9} {'trips':>5} {'pg xact':>7}   {'unexp':>5} {'errors':>6} "
           f"{'load':>5}")


def summary_row(run: PathRun) -> str:
    result, ms = run.result, latencies_ms(run.result)
    use, n = result.cpu, max(result.requests, 1)

    def cpu(seconds: float) -> str:
        return f"{seconds / n * 1000:.2f}"

    parts = (cpu(use.workers), cpu(use.postgres), cpu(use.redis), cpu(use.client)) if use else (
        "-",) * 4
    return (f"{run.label:<10} {result.throughput:>7.0f} {percentile(ms, 50):>6.1f} "
            f"{percentile(ms, 95):>6.1f} {percentile(ms, 99):>6.1f}   {parts[0]:>8} "
            f"{parts[1]:>8} {parts[2]:>6} {parts[3]:>5}   {run.redis.commands:>9.1f} "
            f"{run.redis.round_trips:>5.1f} "
            f"{run.transactions_per_request:>7.2f}   {sum(result.unexpected.values()):>5} "
            f"{result.errors:>6} {run.load_average:>5.1f}")


@dataclass(frozen=True)
class Verdict:
    name: str
    measured: float  # from the requests per second of the run
    by_cpu: float  # from CPU cost: what the machine's CPUs alone would serve
    target: float
    at_most: bool = False  # the figure must stay under the target (latency)

    @property
    def met(self) -> bool:
        return self.measured <= self.target if self.at_most else self.measured >= self.target


def verdicts(runs: dict[str, Result]) -> list[Verdict]:
    """The issue's targets from the four results (keys bare, anysd, menu, pin)."""
    def ratio(a: str, b: str, of: Callable[[Result], float]) -> float:
        below = of(runs[b])
        return of(runs[a]) / below if below else float("nan")

    def throughput(result: Result) -> float:
        return result.throughput

    out = [Verdict("Mkopo PIN path / anysd", ratio("pin", "anysd", throughput),
                   ratio("pin", "anysd", dedicated), TARGETS["pin/anysd"]),
           Verdict("Mkopo menu path / bare", ratio("menu", "bare", throughput),
                   ratio("menu", "bare", dedicated), TARGETS["menu/bare"])]
    for key in ("menu", "pin"):
        p99 = percentile(latencies_ms(runs[key]), 99)
        out.append(Verdict(f"p99 of Mkopo {key} path, ms", p99, float("nan"),
                           TARGETS["p99 ms"], at_most=True))
    return out


def verdict_line(verdict: Verdict) -> str:
    unit = " ms" if verdict.at_most else "x"
    sign = "<=" if verdict.at_most else ">="
    cpu = "" if verdict.by_cpu != verdict.by_cpu else f" (by CPU cost {verdict.by_cpu:.2f}x)"
    return (f"{verdict.name:<32} {verdict.measured:>7.2f}{unit}{cpu}; target {sign} "
            f"{verdict.target:g}{unit}: {'met' if verdict.met else 'NOT met'}")


# --- main ------------------------------------------------------------------------------------


def parse_size(text: str) -> tuple[int, int]:
    workers, sep, threads = text.strip().partition("x")
    if not sep:
        raise argparse.ArgumentTypeError("WORKERSxTHREADS, e.g. 2x4")
    return int(workers), int(threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per path")
    parser.add_argument("--phones", type=int, default=16, help="phones in the closed loop")
    parser.add_argument("--size", type=parse_size, default=(2, 4),
                        help="gunicorn gthread WORKERSxTHREADS for every server (2x4)")
    parser.add_argument("--reuse-db", action="store_true",
                        help="keep the database a previous run seeded (quicker iterations)")
    parser.add_argument("--seed", type=int, default=20250101)
    args = parser.parse_args(argv)
    workers, threads = args.size

    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    database = urlsplit(database_url).path.lstrip("/")
    instance = Path(tempfile.mkdtemp(prefix="mkopo-ussd-vs-anysd-"))
    env = server_env(database_url, redis_url, instance)
    began = time.perf_counter()
    print(f"code: {revision()}; machine: {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} (shared machines: see 'other work' below); PostgreSQL "
          f"{database_url.rsplit('@', 1)[-1]}, Redis {redis_url}", flush=True)
    gunicorn = anysd_gunicorn()
    (instance / "anysd.yaml").write_text(anysd_config(redis_url))
    anysd_env = {"ANYSD_CONFIG_FILE": str(instance / "anysd.yaml"), "ENVIRONMENT": "development"}
    runtime, world = open_world(database_url, env, reuse=args.reuse_db, seed=args.seed)
    phones = pick_phones(world, args.phones)
    texts = Texts()
    servers = {
        "bare": ("bench.ussd_load:bare_app()", env, None, ROOT,
                 [(number, BARE_WALK) for number, _ in phones]),
        "anysd": ("app:app", anysd_env, gunicorn, ANYSD_DIR,
                  [(number, ANYSD_WALK) for number, _ in phones]),
        "menu": ("gateway:create_app()", env, None, ROOT,
                 [(number, menu_walk(texts, lang)) for number, lang in phones]),
        "pin": ("gateway:create_app()", env, None, ROOT,
                [(number, pin_walk(texts, lang)) for number, lang in phones]),
    }
    print(f"\n{args.phones} phones, closed loop, gunicorn gthread {workers}x{threads} for every "
          f"server, {WARM_UP:.0f} s warm-up then {args.seconds:.0f} s each, one at a time")
    print(HEADER)
    runs: dict[str, PathRun] = {}
    try:
        for label, (app, app_env, executable, chdir, load) in servers.items():
            runs[label] = measure(label, app, app_env, executable, chdir, load, runtime=runtime,
                                  database=database, size=(workers, threads),
                                  seconds=args.seconds, log=instance / f"{label}.log")
    finally:
        reset_world(runtime)
        runtime.close()

    print(f"\nsummary: {args.phones} phones, gthread {workers}x{threads}; latency in ms; CPU "
          "in ms per request (gen: this load generator); Redis commands and round trips, "
          "PostgreSQL transactions, per request; load average as each path began")
    print(SUMMARY)
    for run in runs.values():
        print(summary_row(run))
    print()
    for verdict in verdicts({label: run.result for label, run in runs.items()}):
        print(verdict_line(verdict))
    report_logs(instance, ("menu", "pin"))
    print(f"bench took {time.perf_counter() - began:.0f} s; load average now "
          f"{os.getloadavg()[0]:.1f}")
    return 0


def pick_phones(world: World, count: int) -> list[tuple[str, str]]:
    """Borrowers with running loans (a balance to show) that the bench seeded, the same ones
    every run; not the demo's people (one has an impact survey waiting, offered at the dial)."""
    from devtools.demo import BORROWERS

    demo_phones = {person.phone for person in BORROWERS.values()}
    chosen = sorted((phone for phone in world.active if phone.number not in demo_phones),
                    key=lambda phone: phone.number)[:count]
    if len(chosen) < count:
        raise SystemExit(f"the seeded world has {len(chosen)} borrowers with loans, not {count}")
    return [(phone.number, phone.lang) for phone in chosen]


def measure(label: str, app: str, env: dict[str, str], gunicorn: str | None, chdir: Path,
            load: list[tuple[str, Walk]], *, runtime: Any, database: str,
            size: tuple[int, int], seconds: float, log: Path) -> PathRun:
    """Start one server, warm it up, measure it under the load, count its Redis commands and
    PostgreSQL transactions per request, stop it."""
    reset_world(runtime)
    load_average = os.getloadavg()[0]
    server = Server(app, *size, env, log, gunicorn=gunicorn, chdir=chdir)
    try:
        server.wait_ready()
        transactions_before = transactions(runtime, database)
        warm = asyncio.run(closed_loop("warm-up", server.port, load, WARM_UP))
        meter = CpuMeter(server, runtime, database)
        before = meter.sample()
        result = asyncio.run(closed_loop(label, server.port, load, seconds))
        result.cpu = meter.between(before, meter.sample())
        redis, probed = redis_use(runtime, server.port, load)
    finally:
        server.stop()
    time.sleep(0.5)  # its PostgreSQL backends end and publish their statistics
    spent = transactions(runtime, database) - transactions_before
    requests = warm.requests + result.requests + probed
    print_result(result)
    return PathRun(label, result, redis, spent / max(requests, 1), load_average)


def report_logs(instance: Path, labels: tuple[str, ...]) -> None:
    for label in labels:
        path = instance / f"{label}.log"
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        errors = [line for line in lines if '"level": "ERROR"' in line or "Traceback" in line]
        print(f"server log {path}: {len(lines)} lines, {len(errors)} errors")
        for line in errors[:3]:
            print("  " + line[:300])


if __name__ == "__main__":
    raise SystemExit(main())
