"""`flask import-statement FILE` and `flask reconcile`."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from payments.models import ReconciliationBreak
from reconciliation.statements import StatementLine

from support.recon_world import FIXTURES_STATEMENT, csv_bytes, row


def test_import_statement_then_reconcile(runner, session, tmp_path) -> None:
    result = runner.invoke(args=["import-statement", str(FIXTURES_STATEMENT)])
    assert result.exit_code == 0, result.output
    assert "imported 4 line(s)" in result.output
    result = runner.invoke(args=["reconcile", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["breaks"]["statement_without_ledger"] == 4
    assert session.scalar(select(func.count()).select_from(ReconciliationBreak)) == 4


def test_a_bad_file_prints_every_problem_and_imports_nothing(runner, session, tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([row("TKS0000001", 100), ["TKS0000002", "soon"] + row("X", 1)[2:],
                               row("TKS0000001", 100)]))
    result = runner.invoke(args=["import-statement", str(bad)])
    assert result.exit_code == 1
    assert "line 3: Completion Time 'soon' is not a date" in result.output
    assert "line 4: receipt TKS0000001 appears twice (first on line 2)" in result.output
    assert "nothing imported (2 problem(s))" in result.output
    assert session.scalar(select(func.count()).select_from(StatementLine)) == 0


def test_importing_the_same_file_twice_is_refused(runner) -> None:
    assert runner.invoke(args=["import-statement", str(FIXTURES_STATEMENT)]).exit_code == 0
    again = runner.invoke(args=["import-statement", str(FIXTURES_STATEMENT)])
    assert again.exit_code == 1 and "imported before" in again.output
