"""A repayment's SMS: her receipt and each lender's credit, as that payment left things."""

from datetime import timedelta

from sqlalchemy import select

import ledger
from core.money import Money
from lending.models import LenderCredit, Member
from lending.queries import balance_summary
from lending.repayments import record_repayment
from messaging.models import SmsMessage
from messaging.outbound import queue_sms
from messaging.reminders import reminder_key


def messages(session, phone: str) -> list[str]:
    return list(session.scalars(select(SmsMessage.body).where(SmsMessage.to_phone == phone)
                                .order_by(SmsMessage.id)))


def pay(session, loan, amount: int, key: str):
    return record_repayment(session, loan_id=loan.id, amount=amount, key=key, source="c2b",
                            receipt=f"Q{key}")


def kes(minor: int) -> str:
    return f"KES {minor // 100:,}" + (f".{minor % 100:02d}" if minor % 100 else "")


def wallet(session, lender_id: int) -> int:
    return ledger.balance(session, ledger.lender_wallet(lender_id))


def test_the_receipt_is_written_with_the_payment_and_lenders_wait_for_their_digest(
        lending, session) -> None:
    product = lending.product(share_unit=3_333)
    loan = lending.active(weights=(7, 11, 13), product=product)
    lenders = [session.get_one(Member, f.lender_id)
               for f in sorted(loan.fundings, key=lambda f: f.id)]
    before = {m.phone: len(messages(session, m.phone)) for m in lenders}

    result = pay(session, loan, 26_000, "msg-1")

    # in the money's own transaction: her receipt, and no SMS to lenders (digest by default)
    assert messages(session, loan.borrower.phone)[-1] == (
        f"Received KES 260 for loan {loan.reference}, thank you. Balance KES 780. "
        "Next: KES 260 due 16/03/2026.")
    assert {m.phone: len(messages(session, m.phone)) for m in lenders} == before
    meta = result.repayment.journal_entry.meta
    shares = [x["interest"] + x["principal"] for x in meta["lenders"]]
    assert shares == [6_020, 9_459, 10_321]
    credits = session.scalars(select(LenderCredit).where(
        LenderCredit.repayment_id == result.repayment.id).order_by(LenderCredit.id)).all()
    assert [(c.lender_id, c.amount, c.balance_after, c.notified_at) for c in credits] == [
        (m.id, share, wallet(session, m.id), None)
        for m, share in zip(lenders, shares, strict=True)]


def test_a_replayed_payment_writes_no_second_message_or_credit(lending, session) -> None:
    loan = lending.active(weights=(1, 1))
    first = pay(session, loan, 26_000, "twice")
    again = pay(session, loan, 26_000, "twice")
    assert again.repayment.id == first.repayment.id
    assert len([b for b in messages(session, loan.borrower.phone)
                if b.startswith("Received")]) == 1
    assert len(session.scalars(select(LenderCredit).where(
        LenderCredit.repayment_id == first.repayment.id)).all()) == 2


def test_a_lender_who_asked_for_each_repayment_sees_the_balance_each_one_left(
        lending, session) -> None:
    loan = lending.active(weights=(1, 3))
    lenders = [session.get_one(Member, f.lender_id)
               for f in sorted(loan.fundings, key=lambda f: f.id)]
    for lender in lenders:
        lender.repayment_sms = "each"
    balances = []
    for n in range(3):
        pay(session, loan, 26_000, f"each-{n}")
        balances.append([wallet(session, m.id) for m in lenders])

    for i, lender in enumerate(lenders):
        texts = [b for b in messages(session, lender.phone) if b.startswith("You received")]
        assert [t.rsplit("balance is ", 1)[1] for t in texts] == [
            f"{kes(after[i])}." for after in balances]
        assert len({t.rsplit("balance is ", 1)[1] for t in texts}) == 3  # never one repeated
    notified = session.scalars(select(LenderCredit.notified_at).where(
        LenderCredit.lender_id.in_([m.id for m in lenders]))).all()
    assert len(notified) == 6 and None not in notified  # no digest will repeat them


def test_each_receipt_shows_the_balance_its_own_payment_left(lending, session) -> None:
    loan = lending.active()
    pay(session, loan, 26_000, "first")
    pay(session, loan, 26_000, "second")
    receipts = [b for b in messages(session, loan.borrower.phone) if b.startswith("Received")]
    assert [r.split(". ")[1] for r in receipts] == ["Balance KES 780", "Balance KES 520"]


def test_paying_the_loan_off_says_congratulations(lending, session, clock) -> None:
    loan = lending.active()
    first = pay(session, loan, 26_000, "early")
    clock.advance(days=1)
    pay(session, loan, 78_000, "rest")
    bodies = messages(session, loan.borrower.phone)
    assert sum(b.startswith("Received KES 260 for loan") for b in bodies) == 1
    assert sum(b.startswith("Congratulations") for b in bodies) == 1
    assert first.next_due is not None


def test_an_overpayment_tells_her_the_excess_is_kept_as_credit(lending, session) -> None:
    loan = lending.active()
    pay(session, loan, 30_000, "over")  # 260 due now, 40 more
    assert messages(session, loan.borrower.phone)[-1] == (
        f"Received KES 300 for loan {loan.reference}, thank you. KES 40 more than was due is "
        "kept as credit for your next installment.")


def test_paying_the_next_installment_with_credit_held_shows_the_real_next_one(
        lending, session, clock) -> None:
    """#13: she holds KES 40 of credit and pays the KES 220 she was told is next."""
    loan = lending.active()
    pay(session, loan, 30_000, "over")  # installment 1 paid, KES 40 held
    assert balance_summary(session, loan.borrower_id).next_due_amount == 22_000

    result = pay(session, loan, 22_000, "next")

    assert messages(session, loan.borrower.phone)[-1] == (
        f"Received KES 220 for loan {loan.reference}, thank you. Balance KES 520. "
        "Next: KES 260 due 23/03/2026.")
    assert ledger.balance(session, ledger.borrower_credit(loan.borrower_id)) == 0
    assert result.repayment.detail["credit_used"] == 4_000
    rows = sorted(loan.installments, key=lambda r: r.number)
    assert [r.outstanding for r in rows] == [0, 0, 26_000, 26_000]
    summary = balance_summary(session, loan.borrower_id)
    assert (summary.outstanding, summary.next_due_amount, str(summary.next_due_date)) == (
        52_000, 26_000, "2026-03-23")
    assert ledger.verify(session).ok


def test_credit_that_covers_the_next_installment_moves_the_next_due_past_it(
        lending, session) -> None:
    loan = lending.active()
    pay(session, loan, 52_000, "double")  # installment 1, and 260 held (the credit policy)
    summary = balance_summary(session, loan.borrower_id)
    assert (summary.next_due_amount, str(summary.next_due_date)) == (26_000, "2026-03-23")
    assert summary.outstanding == 52_000


def test_paying_an_installment_off_withdraws_only_its_queued_reminders(
        lending, session, clock) -> None:
    loan = lending.active()
    first, second = sorted(loan.installments, key=lambda row: row.number)[:2]
    tomorrow_morning = clock.now() + timedelta(days=1)
    for row in (first, second):
        queue_sms(session, loan.borrower.phone, "reminder_due_today", "en",
                  {"amount": Money(26_000), "reference": loan.reference},
                  key=reminder_key(row.id, 0), category="reminder", not_before=tomorrow_morning)

    pay(session, loan, 27_000, "first-and-a-bit")  # the first paid off, the second started

    statuses = dict(session.execute(select(SmsMessage.idempotency_key, SmsMessage.status)
                                    .where(SmsMessage.category == "reminder")).all())
    assert statuses == {reminder_key(first.id, 0): "suppressed",
                        reminder_key(second.id, 0): "queued"}


def test_reminders_of_several_installments_are_withdrawn_in_one_go(
        lending, session, clock) -> None:
    from messaging.reminders import cancel_reminders

    loan = lending.active()
    first, second, third = sorted(loan.installments, key=lambda row: row.number)[:3]
    tomorrow_morning = clock.now() + timedelta(days=1)
    for row in (first, second, third):
        queue_sms(session, loan.borrower.phone, "reminder_due_today", "en",
                  {"amount": Money(26_000), "reference": loan.reference},
                  key=reminder_key(row.id, 0), category="reminder", not_before=tomorrow_morning)

    assert cancel_reminders(session, first.id, second.id) == 2
    assert cancel_reminders(session) == 0

    statuses = dict(session.execute(select(SmsMessage.idempotency_key, SmsMessage.status)
                                    .where(SmsMessage.category == "reminder")).all())
    assert statuses == {reminder_key(first.id, 0): "suppressed",
                        reminder_key(second.id, 0): "suppressed",
                        reminder_key(third.id, 0): "queued"}
