"""Importing M-Pesa statements: all rows or none, every bad line named."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from reconciliation.statements import StatementImport, StatementLine, import_statement, phone_key

from support.recon_world import FIXTURES_STATEMENT, HEADER, csv_bytes, row


def load(session, data: bytes, name: str = "statement.csv"):
    return import_statement(session, io.BytesIO(data), file_name=name, actor="ops@mkopo")


def count_lines(session) -> int:
    return session.scalar(select(func.count()).select_from(StatementLine))


def test_the_sample_statement_imports_every_line(session) -> None:
    report = load(session, FIXTURES_STATEMENT.read_bytes())
    assert report.ok and report.lines == 4 and report.errors == []
    lines = {line.receipt: line for line in session.scalars(select(StatementLine))}
    first = lines["TKS9Q8W7E6"]
    assert first.amount == 50_000 and first.paid_in == 50_000 and first.withdrawn == 0
    assert first.completed_at == datetime(2026, 11, 28, 7, 15, 2, tzinfo=UTC)  # EAT → UTC
    assert first.account_reference == "L1042" and first.phone_key == "25471101"
    assert first.party_name == "Grace" and first.balance == 18_423_000
    payout = lines["TKT1Z2X3C4"]
    assert payout.amount == -500_000 and payout.account_reference == ""
    imported = session.get(StatementImport, report.import_id)
    assert imported.line_count == 4 and imported.paid_in_total == 215_000
    assert imported.withdrawn_total == 500_000


def test_the_same_file_is_refused_the_second_time(session) -> None:
    data = FIXTURES_STATEMENT.read_bytes()
    assert load(session, data).ok
    again = load(session, data, name="copy.csv")
    assert not again.ok and "imported before" in again.errors[0].message
    assert count_lines(session) == 4


def test_a_receipt_from_an_earlier_statement_is_refused(session) -> None:
    first = load(session, csv_bytes([row("TKS0000001", 100)]))
    report = load(session, csv_bytes([row("TKS0000002", 100), row("TKS0000001", 200)]))
    assert [(e.line, e.message) for e in report.errors] == [
        (3, f"receipt TKS0000001 was imported before (import #{first.import_id})")]
    assert count_lines(session) == 1


BAD_FILES = {
    "a bad date": ([row("TKS0000001", 100), ["TKS0000002", "31/13/2026 25:00:00"] +
                    row("X", 1)[2:]], 3, "Completion Time '31/13/2026 25:00:00' is not a date"),
    "letters in an amount": ([row("TKS0000001", 100),
                              row("TKS0000002", 100)[:5] + ["12a.00"] + row("X", 1)[6:]],
                             3, "Paid In '12a.00' is not an amount"),
    "a short row": ([row("TKS0000001", 100), ["TKS0000002", "2026-11-28 10:00:00"]], 3,
                    "expected 13 fields, found 2"),
    "both paid in and withdrawn": ([row("TKS0000001", 100)[:6] + ["5.00"] + row("X", 1)[7:]],
                                   2, "exactly one of Paid In and Withdrawn"),
    "a duplicate receipt": ([row("TKS0000001", 100), row("TKS0000001", 100)], 3,
                            "receipt TKS0000001 appears twice (first on line 5)"),
    "a receipt that is no receipt": ([row("tks 1", 100)], 2, "is not a receipt number"),
}


@pytest.mark.parametrize("rows, line, message", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_malformed_row_is_reported_and_nothing_is_imported(session, rows, line,
                                                             message) -> None:
    good = [row(f"TKSGOOD{n:03d}", 100) for n in range(3)]
    report = load(session, csv_bytes(good + rows))
    assert not report.ok and report.import_id is None
    assert report.errors[0].line == line + 3 and message in report.errors[0].message
    assert count_lines(session) == 0
    assert session.scalar(select(func.count()).select_from(StatementImport)) == 0


def test_every_bad_line_is_reported_not_just_the_first(session) -> None:
    rows = [row("TKS0000001", 100), row("TKS0000002", 100)[:5] + ["abc"] + row("X", 1)[6:],
            row("TKS0000003", 100), ["TKS0000004", "yesterday"] + row("X", 1)[2:]]
    report = load(session, csv_bytes(rows))
    assert [e.line for e in report.errors] == [3, 5] and report.error_count == 2


def test_missing_columns_are_named(session) -> None:
    header = [h for h in HEADER if h not in ("Paid In", "Withdrawn")]
    report = load(session, csv_bytes([], header=header))
    assert [(e.line, e.message) for e in report.errors] == [
        (1, "missing column(s): Paid In, Withdrawn")]


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty"),
    (b"\n\n", "the file is empty"),
    (csv_bytes([]), "the statement has no transactions"),
    (b"\xff\xfe\x00garbage", "the file is not UTF-8 text"),
], ids=["empty", "blank lines", "header only", "not text"])
def test_empty_or_unreadable_files_are_refused(session, data, message) -> None:
    report = load(session, data)
    assert not report.ok and report.errors[0].message == message
    assert count_lines(session) == 0


def test_a_large_file_is_written_in_batches_in_one_transaction(session) -> None:
    rows = [row(f"TKB{n:07d}", 100 + n) for n in range(12_001)]
    report = load(session, csv_bytes(rows))
    assert report.ok and count_lines(session) == 12_001


def test_a_bad_line_after_several_batches_leaves_nothing_behind(session) -> None:
    rows = [row(f"TKB{n:07d}", 100) for n in range(11_000)] + [["TKBAD00001", "never"]]
    report = load(session, csv_bytes(rows))
    assert not report.ok and report.errors[0].line == 11_002
    assert count_lines(session) == 0


@pytest.mark.parametrize("raw, key", [
    ("25471****101", "25471101"), ("+254712345101", "25471101"), ("0712345101", "25471101"),
    ("254***1", None), ("", None),
])
def test_phone_keys_compare_masked_and_full_numbers(raw, key) -> None:
    assert phone_key(raw) == key
