"""A repayment's SMS: written by a job after the money commits, from what was true then."""

from datetime import timedelta

from sqlalchemy import select

from core.money import Money
from core.outbox import OutboxItem
from lending.models import Member
from lending.notifications import REPAYMENT_MESSAGES
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


def test_the_receipt_and_each_lenders_credit_are_written_after_commit(
        lending, session, worker) -> None:
    product = lending.product(share_unit=3_333)
    loan = lending.active(weights=(7, 11, 13), product=product)
    stakes = sorted(loan.fundings, key=lambda f: f.id)
    lenders = [session.get_one(Member, f.lender_id) for f in stakes]
    borrower = loan.borrower
    before = {p: len(messages(session, p)) for p in [borrower.phone, *(m.phone for m in lenders)]}

    result = pay(session, loan, 26_000, "msg-1")
    # inside the money transaction only the outbox item is written
    assert {p: len(messages(session, p)) for p in before} == before
    item = session.scalars(select(OutboxItem).where(OutboxItem.kind == REPAYMENT_MESSAGES)).one()
    assert item.payload["message"] == "repayment_receipt"
    session.commit()
    worker.run()

    receipt = messages(session, borrower.phone)[-1]
    assert receipt == (f"Received KES 260 for loan {loan.reference}, thank you. Balance KES 780. "
                       "Next: KES 260 due 16/03/2026.")
    meta = result.repayment.journal_entry.meta
    shares = [x["interest"] + x["principal"] for x in meta["lenders"]]
    assert shares == [6_020, 9_459, 10_321]
    for lender, share in zip(lenders, shares, strict=True):
        credit = messages(session, lender.phone)[-1]
        assert credit.startswith(f"You received KES {share // 100}.{share % 100:02d} from loan "
                                 f"{loan.reference}.")

    worker.run()  # a second run, or a replayed job, writes nothing twice
    assert sum(len(messages(session, p)) for p in before) == sum(before.values()) + 4


def test_each_receipt_shows_the_balance_its_own_payment_left(lending, session, worker) -> None:
    loan = lending.active()
    pay(session, loan, 26_000, "first")
    pay(session, loan, 26_000, "second")
    session.commit()
    worker.run()  # both jobs run after both payments
    receipts = [b for b in messages(session, loan.borrower.phone) if b.startswith("Received")]
    assert [r.split(". ")[1] for r in receipts] == ["Balance KES 780", "Balance KES 520"]


def test_the_message_is_chosen_when_the_money_moves_not_when_the_job_runs(
        lending, session, worker, clock) -> None:
    loan = lending.active()
    first = pay(session, loan, 26_000, "early")
    # the loan is paid off before the first repayment's job runs
    clock.advance(days=1)
    pay(session, loan, 78_000, "rest")
    session.commit()
    worker.run()
    bodies = messages(session, loan.borrower.phone)
    assert sum(b.startswith("Received KES 260 for loan") for b in bodies) == 1
    assert sum(b.startswith("Congratulations") for b in bodies) == 1
    assert first.next_due is not None


def test_an_overpayment_tells_her_the_excess_is_kept_as_credit(lending, session, worker) -> None:
    loan = lending.active()
    pay(session, loan, 30_000, "over")  # 260 due now, 40 more
    session.commit()
    worker.run()
    assert messages(session, loan.borrower.phone)[-1] == (
        f"Received KES 300 for loan {loan.reference}, thank you. KES 40 more than was due is "
        "kept as credit for your next installment.")


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
