"""The pure parts of bench/ussd_vs_anysd.py: screen checks, Redis counting, targets, config."""

from __future__ import annotations

import argparse

import pytest

from bench.ussd_load import CpuUse, Result
from bench.ussd_vs_anysd import (
    ANYSD_WALK,
    BARE_WALK,
    Expect,
    anysd_config,
    count_redis,
    parse_size,
    problem,
    texts_sent,
    verdicts,
)

BALANCE = Expect("1357", "CON ", ("Credit limit",), pin=True)


def test_a_session_sends_every_answer_so_far():
    assert texts_sent(ANYSD_WALK) == ["", "1", "1*1357"]
    assert texts_sent(BARE_WALK) == ["", "1", "1*1"]


@pytest.mark.parametrize(("status", "screen", "found"), [
    (200, "CON Loan MK1: active\nCredit limit: KES 10,000\n0 Back 00 Home", None),
    (200, "END Credit limit: KES 10,000", "unexpected"),  # END where the menu goes on
    (200, "CON Wrong PIN. Tries left: 2", "unexpected"),
    (500, "CON Credit limit", "error"),
    (0, "", "error"),  # the request failed
    (200, "Credit limit", "error"),  # no CON/END: not a USSD answer
])
def test_a_screen_is_what_its_step_expects_or_why_not(status, screen, found):
    assert problem(BALANCE, status, screen) == found


def test_every_marker_must_be_on_the_screen():
    step = Expect(None, "CON ", ("Main Menu:", "1. Balance"))
    assert problem(step, 200, "CON Main Menu:\n1. Balance") is None
    assert problem(step, 200, "CON Main Menu:\n1. Airtime") == "unexpected"


def test_redis_round_trips_count_a_transaction_once_and_commands_each():
    log = [("a:1", "GET ussd:s:1"), ("a:1", "SET ussd:l:1 1 NX PX 5000"),
           ("a:1", "MULTI"), ("a:1", "SET ussd:s:1 {}"), ("b:2", "HGET k f"),
           ("a:1", "DEL ussd:l:1"), ("a:1", "EXEC"), ("c:3", "SELECT 11"), ("a:1", "GET x")]
    # commands: GET, SET, SET, HGET, DEL, GET; round trips: GET, SET, MULTI..EXEC, HGET, GET
    assert count_redis(log) == (6, 5)


def test_a_script_is_one_round_trip_and_its_commands_count_each():
    log = [("a:1", "EVALSHA 0f3c 3 ussd:r:1 ussd:s:1 ussd:resume:x"),
           ("lua:", "GET ussd:r:1"), ("lua:", "GET ussd:s:1"), ("lua:", "SET ussd:l:1 1"),
           ("a:1", "EVALSHA 9a1b 2 ussd:s:1 ussd:l:1"), ("lua:", "SET ussd:s:1 {}"),
           ("lua:", "DEL ussd:l:1")]
    assert count_redis(log) == (5, 2)


def result(requests: int, wall: float, cpu: float, latency: float = 0.01) -> Result:
    run = Result("x", other=[latency] * requests, wall=wall)
    run.cpu = CpuUse(workers=cpu, capacity=2 * wall)
    return run


def test_targets_from_throughput_and_cpu_cost():
    runs = {"bare": result(4000, 1.0, 1.0), "anysd": result(1000, 1.0, 1.0),
            "menu": result(2000, 1.0, 1.0), "pin": result(1200, 1.0, 2.0, latency=0.06)}
    pin_anysd, menu_bare, p99_menu, p99_pin = verdicts(runs)
    assert (pin_anysd.measured, pin_anysd.met) == (1.2, True)
    assert pin_anysd.by_cpu == pytest.approx(0.6)  # twice the CPU for 1.2x the requests
    assert (menu_bare.measured, menu_bare.met) == (0.5, True)
    assert (round(p99_menu.measured), p99_menu.met) == (10, True)
    assert (round(p99_pin.measured), p99_pin.met) == (60, False)  # over 50 ms


def test_anysd_config_points_at_the_bench_redis_database():
    assert anysd_config("redis://127.0.0.1:6380/11") == (
        "development:\n  redis:\n    host: 127.0.0.1\n    port: 6380\n    db: 11\n")
    assert "password: 's3cret'" in anysd_config("redis://:s3cret@localhost/2")


def test_size_is_workers_by_threads():
    assert parse_size("2x4") == (2, 4)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size("8")
