"""The borrower's journey over /ussd with the real lending and payments domain behind it."""

from sqlalchemy import func, select

import ledger
from core.outbox import OutboxItem
from ledger import MOBILE_MONEY_FLOAT, credit, debit, lender_wallet
from lending.applications import approve_loan
from lending.disbursement import complete_disbursement, start_disbursement
from lending.funding import fund_loan
from lending.members import register_member
from lending.models import Loan, Member
from messaging.models import SmsMessage
from payments.models import PaymentIntent

PIN = "1357"


def register(ussd) -> None:
    ussd.dial("1", "Amina Njeri", "12345678", PIN, PIN, "1", "1")


def test_registration_creates_a_pending_member_and_a_welcome_sms(ussd, session) -> None:
    register(ussd)
    ussd.expect("Thank you Amina", end=True)
    member = session.scalar(select(Member).where(Member.phone == ussd.phone))
    assert (member.first_name, member.last_name, member.status) == (
        "Amina", "Njeri", "pending_verification")
    sms = session.scalars(select(SmsMessage.template).where(SmsMessage.to_phone == ussd.phone))
    assert list(sms) == ["registration_received"]


def test_an_unverified_member_is_told_politely_she_cannot_borrow_yet(ussd, product) -> None:
    register(ussd)
    ussd.dial()
    ussd.expect("we are still verifying your registration", "1 Help", end=False)
    assert "Apply" not in ussd.screen


def test_applying_discloses_the_exact_cost_and_creates_one_loan(
    ussd, session, product, verify,
) -> None:
    register(ussd)
    verify(session.scalar(select(Member.id)))
    ussd.dial("2", "1", "1500", "1", "1")
    # KES 1,500 flat 24% a year over 4 weeks: interest round(150000 x 0.24 x 4/52) = 2,769
    # cents; fee 1% = KES 15. Installments 381.92 x 3 + 381.93 = 1,527.69.
    ussd.expect("Pay KES 381.92 x 4", "Total to repay: KES 1,527.69",
                "Cost of credit: KES 42.69", "receive KES 1,485")
    ussd.reply("1")
    ussd.reply(PIN)
    ussd.expect("Loan reference MK", end=True)
    replay = ussd.post("*".join(ussd.answers))  # the telco resends the last request
    assert replay.get_data(as_text=True) == f"END {ussd.screen}"
    loans = session.scalars(select(Loan)).all()
    assert len(loans) == 1
    loan = loans[0]
    assert (loan.amount, loan.term, loan.status, loan.total_repayable, loan.upfront_fee) == (
        150_000, 4, "pending_review", 152_769, 1_500)
    assert loan.reference in ussd.screen


def test_repaying_queues_an_mpesa_prompt_through_the_outbox(
    ussd, session, product, verify,
) -> None:
    borrower = register_member(session, phone=ussd.phone, first_name="Amina",
                               national_id="12345678", pin=PIN, language="en", consent=True)
    verify(borrower.id)
    loan = active_loan(session, borrower.id)
    ussd.dial("3", "1", PIN)
    ussd.expect(f"loan {loan.reference}")
    ussd.reply("1")
    ussd.expect("M-Pesa prompt", end=True)
    intent = session.scalar(select(PaymentIntent))
    # M-Pesa moves whole shillings: KES 381.92 is asked as KES 382 (8 cents become credit)
    assert (intent.kind, intent.amount, intent.loan_id, intent.status) == (
        "repayment", 38_200, loan.id, "pending")
    stk = session.scalar(
        select(func.count(OutboxItem.id)).where(OutboxItem.kind == "mpesa.stk_push"))
    assert stk == 1


def test_help_names_the_loan_to_pay_into_or_else_her_phone(
    ussd, session, product, verify,
) -> None:
    borrower = register_member(session, phone=ussd.phone, first_name="Amina",
                               national_id="12345678", pin=PIN, language="en", consent=True)
    verify(borrower.id)
    ussd.dial("6")
    ussd.expect(f"account {ussd.phone}.")
    loan = active_loan(session, borrower.id)
    ussd.dial("6")
    ussd.expect(f"account {loan.reference}.")


def active_loan(session, borrower_id: int) -> Loan:
    """Apply, approve, fund from a lender's wallet and pay out: a loan ready to repay."""
    from lending.applications import apply_for_loan

    loan = apply_for_loan(session, member_id=borrower_id, product_code="BIASHARA",
                          amount=150_000, term=4, purpose="stock", idempotency_key="e2e-apply")
    approve_loan(session, loan.id, actor="field-officer")
    lender = register_member(session, phone="+254733000222", first_name="Wanjiru",
                             national_id="87654321", pin="2468", language="en", consent=True)
    lender.is_lender = True
    ledger.post(session, "e2e-deposit", "deposit",
                [debit(MOBILE_MONEY_FLOAT, 150_000), credit(lender_wallet(lender.id), 150_000)])
    fund_loan(session, loan_id=loan.id, lender_id=lender.id, shares=15,
              idempotency_key="e2e-fund")
    start_disbursement(session, loan.id, actor="system")
    from core.clock import utcnow

    complete_disbursement(session, loan.id, receipt="SIM0001", occurred_at=utcnow())
    session.commit()
    return loan
