"""The lender menus' port over the real domain, in the request's session.

It shares the borrower adapter's session (one request, one transaction: SQLite
allows a single writer). Each mutating method commits before returning or rolls
back and raises `LenderRefused`.
"""

from __future__ import annotations

from ledger import LedgerError
from lending import digest, lenders
from lending.errors import LendingError
from lending.models import Member
from menus.domain_adapter import DomainAdapter
from menus.lender_ports import (
    LenderRefused,
    LoanLine,
    LoanPage,
    PortfolioView,
    WalletView,
)

REASONS = {
    "insufficient_funds": "insufficient_funds",
    "overfunded": "loan_closed",
    "not_fundraising": "loan_closed",
    "fundraising_closed": "loan_closed",
    "own_loan": "loan_closed",
    "unknown_loan": "loan_closed",
    "daily_limit": "daily_limit",
    "invalid_amount": "invalid_amount",
    "not_a_lender": "not_a_lender",
    "unknown_lender": "not_a_lender",
}
"""Lending codes to the lender menus' reasons; anything else: service_unavailable."""


class DomainLenderServices(DomainAdapter):
    """`menus.lender_ports.LenderServices` over lending.lenders."""

    refusals = (LendingError, LedgerError)
    read_refusals = (LendingError,)

    def refused(self, error: Exception) -> LenderRefused:
        code = getattr(error, "code", "insufficient_funds")  # a LedgerError: the wallet
        return LenderRefused(REASONS.get(code, "service_unavailable"))

    def is_lender(self, member_id: int) -> bool:
        member = self.session.get(Member, member_id)
        return bool(member and member.is_lender)

    def become_lender(self, member_id: int) -> None:
        with self._unit():
            lenders.make_lender(self.session, member_id)

    def wallet(self, member_id: int) -> WalletView:
        balance = lenders.wallet_balance(self.session, member_id)
        book = self._call(lambda: lenders.lender_portfolio(self.session, member_id))
        left = lenders.DAILY_WITHDRAWAL_LIMIT - lenders.withdrawn_today(self.session, member_id)
        return WalletView(balance, book.outstanding, max(0, left), lenders.MIN_TRANSFER)

    def browse(self, member_id: int, offset: int, limit: int) -> LoanPage:
        cards, total = lenders.browse_fundraising(self.session, limit=limit, offset=offset)
        return LoanPage([_line(card) for card in cards], total)

    def loan(self, loan_id: int) -> LoanLine:
        card = self._call(lambda: lenders.loan_card(self.session, loan_id))
        if card.shares_left == 0:
            raise LenderRefused("loan_closed")
        return _line(card)

    def fund(self, member_id: int, loan_id: int, shares: int, idempotency_key: str) -> int:
        with self._unit():
            funding = lenders.fund(self.session, lender_id=member_id, loan_id=loan_id,
                                   shares=shares, idempotency_key=idempotency_key)
        return funding.amount

    def portfolio(self, member_id: int) -> PortfolioView:
        book = self._call(lambda: lenders.lender_portfolio(self.session, member_id))
        counts = book.counts
        return PortfolioView(
            active=counts["active"], repaid=counts["repaid"], in_arrears=counts["in_arrears"],
            lost=counts["lost"], raising=counts["raising"], lent=book.lent,
            outstanding=book.outstanding, received=book.repayments_received,
        )

    def deposit(self, member_id: int, phone: str, amount: int, idempotency_key: str) -> None:
        with self._unit():
            lenders.deposit(self.session, lender_id=member_id, phone=phone, amount=amount,
                            idempotency_key=idempotency_key)

    def withdraw(self, member_id: int, phone: str, amount: int, idempotency_key: str) -> None:
        with self._unit():
            lenders.withdraw(self.session, lender_id=member_id, phone=phone, amount=amount,
                             idempotency_key=idempotency_key)

    def repayment_sms(self, member_id: int) -> str:
        member = self.session.get(Member, member_id)
        return member.repayment_sms if member is not None else "digest"

    def set_repayment_sms(self, member_id: int, choice: str) -> None:
        with self._unit():
            digest.set_repayment_sms(self.session, member_id, choice)

def _line(card: lenders.LoanCard) -> LoanLine:
    return LoanLine(
        loan_id=card.loan_id, first_name=card.first_name, sector=card.sector or "",
        place=card.place or card.region or "", amount=card.amount,
        percent_funded=card.percent_funded, term=card.term, frequency=card.frequency,
        share_unit=card.share_unit, shares_left=card.shares_left,
        still_needed=card.amount - card.funded_amount, story=card.story,
        currency=card.currency,
    )
