"""The demo data: every state a loan can be in, balanced books, and idempotent."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

import ledger
from core import runtime as runtime_module
from core.runtime import Runtime
from devtools.demo import BORROWERS, seed
from gateway import create_app
from lending.models import Loan, Member
from payments.models import PaymentIntent


def test_seed_builds_loans_in_every_state_on_balanced_books(session) -> None:
    assert seed(session) is True
    session.commit()
    statuses = dict(session.execute(
        select(Member.first_name, Loan.status).join(Loan, Loan.borrower_id == Member.id)).all())
    assert statuses == {
        "Chebet": "repaid", "Baraka": "active", "Achieng": "active", "Daudi": "fundraising",
        "Imani": "disbursing", "Esther": "pending_review", "Grace": "rejected",
    }
    unverified = session.scalar(select(Member).where(
        Member.phone == BORROWERS["unverified"].phone))
    assert unverified.status == "pending_verification"
    waiting = session.scalar(select(PaymentIntent).where(PaymentIntent.kind == "disbursement",
                                                         PaymentIntent.status != "succeeded"))
    assert waiting.status == "awaiting_approval"
    check = ledger.verify(session)
    assert check.ok, check


def test_seed_shows_insurance_a_covered_loan_hospital_cash_and_a_claim_to_decide(
        session) -> None:
    from insurance.models import Claim, Policy
    from insurance.reports import pool_summary

    seed(session)
    covers = set(session.execute(
        select(Member.first_name, Policy.kind).join(Policy, Policy.member_id == Member.id)
        .where(Policy.status == "active")).all())
    assert {("Achieng", "credit_life"), ("Baraka", "credit_life"),
            ("Chebet", "hospital_cash")} <= covers
    (claim,) = session.scalars(select(Claim)).all()
    assert (claim.status, claim.nights, claim.amount) == ("filed", 2, 100_000)
    summary = pool_summary(session)
    # 1% of the three paid-out BIASHARA loans, and Chebet's KES 150 premium
    assert summary.premiums_earned == 2_000 + 1_500 + 1_800 + 15_000
    assert summary.pool_balance == summary.premiums_earned + 5_000_000


def test_seed_twice_changes_nothing(session) -> None:
    seed(session)
    loans = session.scalar(select(func.count(Loan.id)))
    entries = session.scalar(select(func.count(ledger.JournalEntry.id)))
    assert seed(session) is False
    assert session.scalar(select(func.count(Loan.id))) == loans
    assert session.scalar(select(func.count(ledger.JournalEntry.id))) == entries


def test_seed_demo_command_prints_the_credentials(runner) -> None:
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "PIN: 1357" in result.output and "admin@mkopo.test" in result.output
    again = runner.invoke(args=["seed-demo"])
    assert "already present" in again.output
    # A restart of the dev server runs seed-demo again: the logins must show again too.
    assert "PIN: 1357" in again.output and "admin@mkopo.test / mkopo-demo-admin" in again.output
    assert "approver@mkopo.test" in again.output and "create-api-key" in again.output


@pytest.mark.parametrize("utc_hour", [6, 21], ids=["morning", "past-midnight-in-nairobi"])
def test_seed_shows_a_saver_with_a_goal_and_a_chama_going_round(session, clock, utc_hour) -> None:
    from savings import accounts, chamas, queries

    # At 21:00 UTC Nairobi is already on the next day: the demo counts its days locally.
    clock.set(datetime(2026, 12, 5, utc_hour, 30, tzinfo=UTC))
    seed(session)
    achieng = session.scalar(select(Member).where(Member.phone == BORROWERS["active"].phone))
    views = {v.name: v for v in accounts.member_accounts(session, achieng.id)}
    assert views["Akiba"].balance >= 300_000  # three months of KES 1,000, plus interest
    assert views["School fees"].target == 2_000_000 and views["School fees"].locked
    assert views["School fees"].balance >= 450_000
    (chama,) = queries.list_chamas(session)
    assert chama.summary.round == 2 and chama.summary.pot == 40_000
    assert chama.summary.next_recipients == ["Chebet"]
    assert [p["status"] for p in chama.payouts] == ["paid"]
    assert chamas.pot(session, chama.summary.id, 1) == 60_000
    assert ledger.verify(session).ok


@pytest.mark.postgres
def test_seed_demo_is_refused_in_production(runtime, session) -> None:
    if runtime.db.dialect != "postgresql":
        pytest.skip("production runs on PostgreSQL only")
    production = runtime.settings.replace(
        env="production", secret_key="s" * 32, callback_token="t" * 32, pin_pepper="p" * 32,
        sms_provider="africastalking", mobile_money_provider="daraja")
    previous = runtime_module._current
    prod_runtime = Runtime(production)
    try:
        app = create_app({"RUNTIME": prod_runtime, "MKOPO_ENV": "production",
                          "secret_key": "s" * 32, "callback_token": "t" * 32,
                          "pin_pepper": "p" * 32, "pin_key": "k" * 32,
                          "sms_provider": "africastalking", "mobile_money_provider": "daraja",
                          "database_url": production.database_url,
                          "redis_url": production.redis_url or "redis://127.0.0.1:6379/15",
                          "instance_path": production.instance_path})
        result = app.test_cli_runner().invoke(args=["seed-demo"])
    finally:
        prod_runtime.close()
        runtime_module.configure(previous)  # type: ignore[arg-type]
    assert result.exit_code == 1
    assert "seed-demo is refused in production" in result.output
    assert session.scalar(select(func.count(Member.id))) == 0
