"""The demo data: every state a loan can be in, balanced books, and idempotent."""

from sqlalchemy import func, select

from gateway.demo import BORROWERS, seed
from lending.models import Loan, Member
from payments import ledger
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
