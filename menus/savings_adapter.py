"""The savings menus' port over the real savings domain, in the request's session.

It shares the borrower adapter's session (one request, one transaction). Each
mutating method commits before returning or rolls back and raises `SavingsRefused`.
"""

from __future__ import annotations

from datetime import date

from menus.domain_adapter import DomainAdapter
from menus.savings_ports import AccountLine, ChamaView, SavingsRefused, SavingsView
from payments.models import AWAITING_APPROVAL
from savings import accounts, chamas, sms, transfers
from savings.accounts import AccountView
from savings.errors import SavingsError
from savings.products import default_product, rate_percent

REASONS = {
    "insufficient_funds": "insufficient_funds",
    "daily_limit": "daily_limit",
    "invalid_amount": "invalid_amount",
    "locked": "locked",
    "too_many_goals": "too_many_goals",
    "invalid_name": "invalid_name",
    "not_a_member": "not_a_member",
}
"""Savings codes to the menus' reasons; anything else: service_unavailable."""


def _line(view: AccountView) -> AccountLine:
    return AccountLine(view.id, view.kind, view.name, view.balance, view.target,
                       view.lock_until, view.locked, view.currency)


class DomainSavingsServices(DomainAdapter):
    """`menus.savings_ports.SavingsServices` over the savings package."""

    refusals = read_refusals = (SavingsError,)

    def refused(self, error: Exception) -> SavingsRefused:
        return SavingsRefused(REASONS.get(getattr(error, "code", ""), "service_unavailable"))

    def savings(self, member_id: int) -> SavingsView:
        with self._unit():  # the first visit opens the Akiba account
            views = accounts.member_accounts(self.session, member_id)
            rate = default_product(self.session).annual_rate_bp
            left = transfers.DAILY_WITHDRAWAL_LIMIT - transfers.withdrawn_today(self.session,
                                                                                member_id)
        return SavingsView([_line(v) for v in views], rate_percent(rate), max(0, left),
                           transfers.MIN_TRANSFER, transfers.MAX_DEPOSIT)

    def deposit(self, member_id: int, account_id: int, amount: int, idempotency_key: str) -> None:
        with self._unit():
            transfers.request_deposit(self.session, member_id=member_id, account_id=account_id,
                                      amount=amount, idempotency_key=idempotency_key)

    def withdraw(self, member_id: int, account_id: int, amount: int,
                 idempotency_key: str) -> bool:
        with self._unit():
            intent = transfers.request_withdrawal(
                self.session, member_id=member_id, account_id=account_id, amount=amount,
                idempotency_key=idempotency_key)
            sent = intent.status != AWAITING_APPROVAL
        return sent

    def open_goal(self, member_id: int, name: str, target: int,
                  lock_until: date | None) -> AccountLine:
        with self._unit():
            goal = accounts.open_goal(self.session, member_id, name=name, target=target,
                                      lock_until=lock_until)
            line = _line(accounts.view(self.session, goal))
        return line

    def chama(self, member_id: int) -> ChamaView | None:
        groups = chamas.chamas_of(self.session, member_id)
        if not groups:
            return None
        view = chamas.summary(self.session, groups[0])
        paid = chamas.contributed(self.session, view.id, member_id, view.round)
        return ChamaView(view.id, view.name, view.contribution, view.round, view.round_ends,
                         view.pot, view.next_recipients, paid, view.currency)

    def contribute(self, member_id: int, chama_id: int, idempotency_key: str) -> None:
        with self._unit():
            transfers.request_contribution(self.session, member_id=member_id, chama_id=chama_id,
                                           idempotency_key=idempotency_key)

    def send_chama_statement(self, member_id: int, chama_id: int, idempotency_key: str) -> None:
        with self._unit():
            sms.send_chama_statement(self.session, chama_id, member_id, idempotency_key)
