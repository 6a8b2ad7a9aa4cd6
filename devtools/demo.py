"""The demo world: a partner, lenders, borrowers in every state, savers, a chama.

Everything goes through the real services (registration, applications, funding,
payment intents and their settlement), with the clock set back so that the
history has dates: a loan repaid last month, one in arrears, one on time. Run it
twice and nothing changes: the field partner is the marker. `flask --app gateway
seed-demo` (`gateway.demo_cli`) builds it and adds the console logins named here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock as clock_module
from core.clock import FrozenClock, utcnow
from devtools.demo_impact import seed_impact
from insurance import capital, claims, policies
from lending import members
from lending import settlement as loan_settlement
from lending.applications import apply_for_loan, approve_loan, reject_loan
from lending.catalog import create_product
from lending.funding import fund_loan, shares_left
from lending.loans import next_due
from lending.localtime import timezone_name, today
from lending.models import FieldPartner, Loan, Member
from lending.protection import set_credit_limit
from lending.schedule import add_months
from payments import intents, settlement
from payments.breaks import record_break
from payments.models import UNMATCHED_C2B, PaymentIntent
from payments.settlement import park_in_suspense
from savings import accounts as savings_accounts
from savings import chamas, interest, transfers

PARTNER = "Tujenge Microfinance"
DEMO_PIN = "1357"
OPERATOR_EMAIL = "admin@mkopo.test"
OPERATOR_PASSWORD = "mkopo-demo-admin"
APPROVER_EMAIL = "approver@mkopo.test"
APPROVER_PASSWORD = "mkopo-demo-approver"
"""A second person, so that maker-checker (one asks, another approves) can be tried."""

PRODUCTS = (
    {"code": "BIASHARA", "name": "Biashara", "currency": "KES", "min_amount": 100_000,
     "max_amount": 5_000_000, "terms": [4, 8, 12], "frequency": "weekly",
     "interest_method": "flat", "interest_rate": "24", "upfront_fee_percent": "1",
     "penalty_kind": "one_time", "penalty_percent": "5", "credit_life_premium_percent": "1"},
    {"code": "KILIMO", "name": "Kilimo", "currency": "KES", "min_amount": 500_000,
     "max_amount": 10_000_000, "terms": [3, 6], "frequency": "monthly",
     "interest_method": "declining", "interest_rate": "18", "upfront_fee_percent": "2"},
)


@dataclass(frozen=True)
class Person:
    phone: str
    first_name: str
    last_name: str
    national_id: str
    gender: str
    place: str
    sector: str
    language: str = "en"


LENDERS = (
    (Person("+254700100201", "Wanjiru", "Kamau", "20000001", "f", "Nairobi", "services"),
     15_000_000),
    (Person("+254700100202", "David", "Otieno", "20000002", "m", "Kisumu", "trade"),
     10_000_000),
    (Person("+254700100203", "Zawadi", "Mwangi", "20000003", "f", "Mombasa", "services", "sw"),
     5_000_000),
)

BORROWERS = {
    "active": Person("+254711200301", "Achieng", "Odhiambo", "30000001", "f", "Nakuru",
                     "retail"),
    "arrears": Person("+254711200302", "Baraka", "Kiprop", "30000002", "m", "Eldoret",
                      "farming", "sw"),
    "repaid": Person("+254711200303", "Chebet", "Rotich", "30000003", "f", "Kericho",
                     "tailoring"),
    "fundraising": Person("+254711200304", "Daudi", "Mutua", "30000004", "m", "Machakos",
                          "transport", "sw"),
    "review": Person("+254711200305", "Esther", "Wairimu", "30000005", "f", "Nyeri", "food"),
    "rejected": Person("+254711200306", "Grace", "Akinyi", "30000006", "f", "Kisumu", "retail"),
    "payout": Person("+254711200307", "Imani", "Chege", "30000007", "m", "Nakuru", "farming"),
    "unverified": Person("+254711200308", "Faraji", "Hassan", "30000008", "m", "Mombasa",
                         "fishing", "sw"),
}


class Demo:
    """Builds the demo world in one session; the caller commits."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.receipts = 0

    def build(self) -> None:
        self.partner = FieldPartner(name=PARTNER, region="Rift Valley", risk_rating=2)
        self.session.add(self.partner)
        self.session.flush()
        for product in PRODUCTS:
            create_product(self.session, product)
        self.lenders = [self.lender(person, amount) for person, amount in LENDERS]
        self.borrowers = {state: self.member(person) for state, person in BORROWERS.items()}
        self.loan_repaid_last_month()
        self.loan_in_arrears()
        self.loan_on_time()
        self.loan_fundraising()
        self.loan_waiting_for_payout_approval()
        self.loan_in_review_and_rejected()
        self.saver_with_a_goal()
        self.chama_going_round()
        self.insurance()
        self.paybill_payments_we_could_not_match()
        seed_impact(self.session, self.borrowers)

    # --- people --------------------------------------------------------------------

    def member(self, person: Person, *, verified: bool = True) -> Member:
        member = members.register_member(
            self.session, phone=person.phone, first_name=person.first_name,
            last_name=person.last_name, national_id=person.national_id, pin=DEMO_PIN,
            language=person.language, consent=True, gender=person.gender,
            region=person.place, sector=person.sector)
        member.place = person.place
        if verified and person is not BORROWERS["unverified"]:
            members.verify_member(self.session, member.id, self.partner.id, "demo-field-officer")
        return member

    def lender(self, person: Person, deposit: int) -> Member:
        lender = self.member(person)
        members.become_lender(self.session, lender.id)
        intent = intents.request_deposit(self.session, member_id=lender.id, phone=lender.phone,
                                         amount=deposit, idempotency_key=f"demo-dep-{lender.id}")
        self.paid(intent)
        return lender

    # --- money events, as M-Pesa would have reported them ------------------------------

    def receipt(self) -> str:
        self.receipts += 1
        return f"SDM{self.receipts:07d}"

    def paid(self, intent: PaymentIntent) -> None:
        settlement.settle_collection_success(self.session, intent, amount=intent.amount,
                                             receipt=self.receipt(), occurred_at=utcnow())

    def disbursed(self, loan: Loan) -> None:
        intent = loan_settlement.start_loan_payout(self.session, loan.id)
        assert intent is not None
        settlement.settle_payout_success(self.session, intent, amount=intent.amount,
                                         receipt=self.receipt(), occurred_at=utcnow())

    def repay(self, loan: Loan, amount: int, key: str) -> None:
        intent = loan_settlement.request_repayment(
            self.session, member_id=loan.borrower_id, loan_id=loan.id,
            phone=loan.borrower.phone, amount=amount, idempotency_key=key)
        self.paid(intent)

    def repay_next(self, loan: Loan, key: str) -> None:
        due = next_due(loan, today())
        assert due is not None
        self.repay(loan, -(-due[1] // 100) * 100, key)

    # --- loans -----------------------------------------------------------------------

    def loan(self, state: str, product: str, amount: int, term: int, purpose: str) -> Loan:
        borrower = self.borrowers[state]
        return apply_for_loan(self.session, member_id=borrower.id, product_code=product,
                              amount=amount, term=term, purpose=purpose,
                              idempotency_key=f"demo-{state}")

    def fund_fully(self, loan: Loan) -> None:
        """Share the loan between the lenders, a third each, in turn."""
        turn = 0
        slice_ = -(-shares_left(loan) // len(self.lenders))
        while loan.status == "fundraising":
            lender = self.lenders[turn % len(self.lenders)]
            shares = min(slice_, shares_left(loan))
            fund_loan(self.session, loan_id=loan.id, lender_id=lender.id, shares=shares,
                      idempotency_key=f"demo-fund-{loan.id}-{turn}")
            self.session.flush()
            turn += 1

    def active_loan(self, state: str, amount: int, term: int, purpose: str) -> Loan:
        loan = self.loan(state, "BIASHARA", amount, term, purpose)
        approve_loan(self.session, loan.id, actor="demo-field-officer")
        self.fund_fully(loan)
        self.disbursed(loan)
        self.session.flush()
        return loan

    def loan_repaid_last_month(self) -> None:
        with backdated(days=60):
            loan = self.active_loan("repaid", 200_000, 4, "Sewing machine and fabric")
            for week in range(4):
                advance(days=7)
                self.repay_next(loan, f"demo-repaid-{week}")

    def loan_in_arrears(self) -> None:
        with backdated(days=36):
            loan = self.active_loan("arrears", 150_000, 8, "Seeds and fertiliser")
            advance(days=7)
            self.repay_next(loan, "demo-arrears-0")

    def loan_on_time(self) -> None:
        with backdated(days=15):
            loan = self.active_loan("active", 180_000, 8, "Stock for the shop")
            advance(days=7)
            self.repay_next(loan, "demo-active-0")
            advance(days=7)
            self.repay_next(loan, "demo-active-1")

    def loan_fundraising(self) -> None:
        loan = self.loan("fundraising", "BIASHARA", 150_000, 12, "A second-hand motorbike")
        approve_loan(self.session, loan.id, actor="demo-field-officer")
        fund_loan(self.session, loan_id=loan.id, lender_id=self.lenders[0].id, shares=6,
                  idempotency_key="demo-fund-partial")

    def loan_waiting_for_payout_approval(self) -> None:
        borrower = self.borrowers["payout"]
        set_credit_limit(self.session, borrower.id, 10_000_000, actor="demo-field-officer",
                         reason="long-standing client with a farm plan")
        loan = self.loan("payout", "KILIMO", 6_000_000, 6, "Greenhouse and drip irrigation")
        approve_loan(self.session, loan.id, actor="demo-field-officer")
        self.fund_fully(loan)
        loan_settlement.start_loan_payout(self.session, loan.id)  # above the threshold: waits

    def paybill_payments_we_could_not_match(self) -> None:
        for n, (payer, account, amount, days_ago) in enumerate(UNMATCHED_PAYBILLS, start=1):
            _paybill_break(self.session, n, payer, account, amount, days_ago)

    def loan_in_review_and_rejected(self) -> None:
        self.loan("review", "BIASHARA", 120_000, 4, "Vegetable stall")
        rejected = self.loan("rejected", "BIASHARA", 200_000, 12, "Phone accessories")
        reject_loan(self.session, rejected.id, actor="demo-field-officer",
                    reason="income could not be confirmed")

    def insurance(self) -> None:
        """Underwriter capital, Chebet's hospital cash and her claim waiting for an operator.

        Every BIASHARA loan carries credit-life cover (1%), so Achieng's and Baraka's
        active loans are covered; their premiums went into the pool at payout.
        """
        capital.commit_capital(self.session, amount=5_000_000, actor="demo-underwriter",
                               key="demo-underwriter")
        chebet = self.borrowers["repaid"]
        with backdated(days=5):
            policy = policies.buy_hospital_cash(self.session, member_id=chebet.id,
                                                idempotency_key="demo-hospital-cash")
            premium = self.session.get(PaymentIntent, policy.intent_id)
            assert premium is not None
            self.paid(premium)
            self.session.flush()
        claims.file_claim(self.session, policy_id=policy.id, cause="hospital",
                          event_date=today() - timedelta(days=2), nights=2,
                          filed_by=f"member:{chebet.id}", channel="ussd",
                          idempotency_key="demo-hospital-claim")

    # --- savings --------------------------------------------------------------------

    def saver_with_a_goal(self) -> None:
        """Achieng saves every month into Akiba and a locked school-fees goal; interest paid."""
        saver = self.borrowers["active"]
        goal = None
        first = add_months(today().replace(day=1), -2)
        for k in range(3):
            day = add_months(today(), k - 2)
            with backdated(days=(today() - day).days):
                if goal is None:
                    goal = savings_accounts.open_goal(
                        self.session, saver.id, name="School fees", target=2_000_000,
                        lock_until=add_months(today(), 8))
                akiba = savings_accounts.personal_account(self.session, saver.id)
                for account, amount in ((akiba, 100_000), (goal, 150_000)):
                    self.paid(transfers.request_deposit(
                        self.session, member_id=saver.id, account_id=account.id, amount=amount,
                        idempotency_key=f"demo-save-{account.id}-{k}"))
        for k in range(2):
            interest.credit_month(self.session, add_months(first, k), today())

    def chama_going_round(self) -> None:
        """Tumaini: three members, weekly KES 200; round 1 paid to Achieng, round 2 filling."""
        people = [self.borrowers[state] for state in ("active", "repaid", "review")]
        start = today() - timedelta(days=10)
        chama = chamas.create_chama(
            self.session, name="Tumaini Women Group", contribution=20_000, frequency="weekly",
            start_date=start, member_ids=[p.id for p in people],
            field_partner_id=self.partner.id, actor="demo-field-officer")
        for round_, payers, days_ago in ((1, people, 9), (2, people[1:], 2)):
            with backdated(days=days_ago):
                for person in payers:
                    self.paid(transfers.request_contribution(
                        self.session, member_id=person.id, chama_id=chama.id,
                        idempotency_key=f"demo-chama-{round_}-{person.id}"))
                if round_ == 1:
                    advance(days=6)
                    for payout in chamas.close_round(self.session, chama.id, today()):
                        intent = self.session.get(PaymentIntent, payout.intent_id)
                        assert intent is not None
                        settlement.settle_payout_success(
                            self.session, intent, amount=intent.amount, receipt=self.receipt(),
                            occurred_at=utcnow())


# --- reconciliation -----------------------------------------------------------------

UNMATCHED_PAYBILLS = (
    # (payer, account as typed, KES minor units, days ago)
    ("+254711200302", "BARAKA", 130_000, 2),  # Baraka typed his name, not his loan
    ("+254722000901", "12345", 50_000, 4),  # a stranger's typo: whose is it?
    ("+254711200301", "ML00", 200_000, 9),  # Achieng, half a reference
)
"""Paybill payments whose account names no loan: parked in suspense, each an open break."""


def _paybill_break(session: Session, n: int, payer: str, account: str, amount: int,
                   days_ago: int) -> None:
    """What the C2B confirmation path leaves for a payment it cannot apply (money in suspense)."""
    receipt, at = f"SDB{n:07d}", utcnow() - timedelta(days=days_ago)
    entry = park_in_suspense(session, amount=amount, receipt=receipt, at=at,
                             reason="no loan matches the account")
    item = record_break(
        session, UNMATCHED_C2B, f"c2b_confirmation:{receipt}", amount=amount, receipt=receipt,
        phone=payer, journal_entry_id=entry.id,
        details={"kind": "c2b_confirmation", "external_id": receipt, "outcome": "success",
                 "result_code": None, "reference": account})
    item.created_at = at  # as old as the payment: the queue shows its ages


@contextmanager
def backdated(*, days: int) -> Iterator[None]:
    """Run a block as if it were `days` ago (mid-morning in Nairobi), then come back."""
    real = clock_module.get_clock()
    # From the local date, not the UTC one: near midnight in Nairobi they differ by a day,
    # and the demo's rounds and due dates are counted in local days.
    day = today() - timedelta(days=days)
    mid_morning = datetime.combine(day, time(10, 30), tzinfo=ZoneInfo(timezone_name()))
    frozen = FrozenClock(mid_morning.astimezone(UTC))
    clock_module.set_clock(frozen)
    try:
        yield
    finally:
        clock_module.set_clock(real)


def advance(**delta: float) -> None:
    clock = clock_module.get_clock()
    if isinstance(clock, FrozenClock):
        clock.advance(**delta)


def already_seeded(session: Session) -> bool:
    return session.scalar(select(FieldPartner.id).where(FieldPartner.name == PARTNER)) is not None


def seed(session: Session) -> bool:
    """Build the demo world unless it is there; True when something was created.

    The demo runs the real services: the caller has wired the process (`wire()`).
    """
    if already_seeded(session):
        return False
    Demo(session).build()
    return True


def demo_logins() -> list[str]:
    """What a newcomer types to get in: the members' PIN and the two console logins."""
    return [f"borrowers' and lenders' PIN: {DEMO_PIN}",
            f"console: {OPERATOR_EMAIL} / {OPERATOR_PASSWORD} (admin)",
            f"console: {APPROVER_EMAIL} / {APPROVER_PASSWORD} (approver, a second person)"]
