"""Lenders' daily digest of repayments: one SMS a lender a day, each line with its own balance."""

from datetime import date, timedelta

from sqlalchemy import func, select

import ledger
from core.gsm7 import sms_segments
from lending.digest import DigestLine, render_digest, send_lender_digests, set_repayment_sms
from lending.models import LenderCredit, Member
from lending.repayments import record_repayment
from messaging.models import SmsMessage


def pay(session, loan, amount: int, key: str) -> None:
    record_repayment(session, loan_id=loan.id, amount=amount, key=key, source="c2b",
                     receipt=f"Q{key}")


def texts(session, phone: str) -> list[str]:
    return list(session.scalars(select(SmsMessage.body).where(SmsMessage.to_phone == phone)
                                .order_by(SmsMessage.id)))


def kes(minor: int) -> str:
    return f"KES {minor // 100:,}" + (f".{minor % 100:02d}" if minor % 100 else "")


def evening(clock, hour: int = 19):
    """Today (the clock's Nairobi date) at `hour`:05 local time, in UTC."""
    return clock.now().replace(hour=hour - 3, minute=5)


def test_one_digest_a_day_with_each_repayment_and_the_balance_it_left(
        lending, session, clock) -> None:
    loan = lending.active(weights=(1, 1))
    lender, other = (session.get_one(Member, f.lender_id)
                     for f in sorted(loan.fundings, key=lambda f: f.id))
    after = []
    for n in range(2):
        pay(session, loan, 26_000, f"d{n}")
        after.append(ledger.balance(session, ledger.lender_wallet(lender.id)))
    before = len(texts(session, lender.phone))

    assert send_lender_digests(evening(clock, hour=18)) == 0  # not yet: before DIGEST_HOUR
    assert send_lender_digests(evening(clock)) == 2  # one for each lender
    assert send_lender_digests(evening(clock, hour=21)) == 0  # never twice a day

    mine = texts(session, lender.phone)
    assert len(mine) == before + 1
    lines = mine[-1].split("\n")
    share = after[0]  # her wallet was empty: all of it came from the first repayment
    assert lines == [
        "Mkopo repayments to your wallet, 02/03/2026:",
        f"{loan.reference} +{kes(share)}, balance {kes(after[0])}",
        f"{loan.reference} +{kes(after[1] - after[0])}, balance {kes(after[1])}",
        f"Total {kes(after[1])} from 2 repayments. Available balance after them: "
        f"{kes(after[1])}.",
    ]
    assert after[0] < after[1]  # each line its own balance, not one repeated
    assert texts(session, other.phone)[-1].startswith("Mkopo repayments to your wallet")
    unsent = session.scalar(select(func.count()).select_from(LenderCredit)
                            .where(LenderCredit.notified_at.is_(None)))
    assert unsent == 0


def test_repayments_after_the_digest_wait_for_the_next_day(lending, session, clock) -> None:
    loan = lending.active()
    lender = session.get_one(Member, loan.fundings[0].lender_id)
    pay(session, loan, 26_000, "before")
    assert send_lender_digests(evening(clock)) == 1
    clock.advance(hours=14)  # 20:00 local: after today's digest went out
    pay(session, loan, 26_000, "after")
    assert send_lender_digests(clock.now()) == 0
    assert send_lender_digests(evening(clock) + timedelta(days=1)) == 1
    last = texts(session, lender.phone)[-1]
    assert last.startswith("Mkopo repayments to your wallet, 03/03/2026:")
    assert "from 1 repayments" in last


def test_a_lender_who_chose_each_repayment_gets_no_digest(lending, session, clock) -> None:
    loan = lending.active()
    lender = session.get_one(Member, loan.fundings[0].lender_id)
    set_repayment_sms(session, lender.id, "each")
    pay(session, loan, 26_000, "each")
    assert texts(session, lender.phone)[-1].startswith("You received KES")
    assert send_lender_digests(evening(clock)) == 0


def test_a_long_day_fits_three_segments_and_counts_the_rest() -> None:
    lines = [DigestLine(f"MK{n:05d}AB", 1_234_567, 100_000_000 + n * 1_234_567, "KES")
             for n in range(40)]
    for language in ("en", "sw"):
        body = render_digest(language, date(2026, 12, 31), lines)
        assert sms_segments(body) <= 3
        shown = [line for line in body.split("\n") if line.startswith("MK")]
        assert 3 <= len(shown) < 40
        assert shown[-1].startswith(f"MK{len(shown) - 1:05d}AB")
        more = body.split("\n")[-2]
        assert str(40 - len(shown)) in more
        total = body.split("\n")[-1]
        assert "KES 493,826.80" in total and total.endswith("KES 1,481,481.13.")


def test_the_swahili_digest_reads_in_swahili(lending, session, clock) -> None:
    body = render_digest("sw", date(2026, 3, 2), [DigestLine("MK1", 26_000, 52_000, "KES")])
    assert body == ("Marejesho ya Mkopo kwenye pochi yako, 02/03/2026:\n"
                    "MK1 +KES 260, salio KES 520\n"
                    "Jumla KES 260 kutoka marejesho 1. Salio linalopatikana baada yake: "
                    "KES 520.")
