"""The Bima menus' port over the real insurance domain, in the request's session.

Each mutating method commits before returning or rolls back and raises
`InsuranceRefused`. A member files claims only on their own policies.
"""

from __future__ import annotations

from datetime import timedelta

from insurance import claims, policies
from insurance.errors import InsuranceError
from insurance.models import CREDIT_LIFE, Claim
from insurance.plans import HOSPITAL_CASH
from lending.localtime import today
from lending.models import Loan
from menus.domain_adapter import DomainAdapter
from menus.insurance_ports import (
    INSURANCE_REASONS,
    ClaimLine,
    InsuranceRefused,
    PlanView,
    PolicyLine,
)
from payments.intents import PaymentError


class DomainInsuranceServices(DomainAdapter):
    """`menus.insurance_ports.InsuranceServices` over the insurance package."""

    refusals = (InsuranceError, PaymentError)

    def refused(self, error: Exception) -> InsuranceRefused:
        code = getattr(error, "code", "")
        if isinstance(error, PaymentError):
            return InsuranceRefused("payment_pending" if code == "payment_pending"
                                    else "service_unavailable")
        return InsuranceRefused(code if code in INSURANCE_REASONS else "service_unavailable")

    def policies(self, member_id: int) -> list[PolicyLine]:
        day = today()
        lines = []
        for policy in policies.member_policies(self.session, member_id):
            loan = self.session.get(Loan, policy.loan_id) if policy.loan_id else None
            if policy.kind == CREDIT_LIFE:
                assert loan is not None
                claimable = policies.credit_life_in_force(policy, loan, day)
                lines.append(PolicyLine(policy.id, policy.kind,
                                        policies.shown_status(self.session, policy),
                                        loan.reference, claimable=claimable))
            else:
                lines.append(PolicyLine(policy.id, policy.kind,
                                        policies.shown_status(self.session, policy),
                                        ends_on=policy.ends_on,
                                        nights_left=claims.nights_left(self.session, policy),
                                        claimable=policy.in_force_on(day)))
        return lines

    def plan(self) -> PlanView:
        plan = HOSPITAL_CASH
        return PlanView(plan.premium, plan.cover_days, plan.nightly_benefit, plan.max_nights)

    def buy_hospital_cash(self, member_id: int, idempotency_key: str) -> None:
        with self._unit():
            policies.buy_hospital_cash(self.session, member_id=member_id,
                                       idempotency_key=idempotency_key)

    def file_claim(self, member_id: int, policy_id: int, cause: str, days_ago: int,
                   nights: int, idempotency_key: str) -> ClaimLine:
        with self._unit():
            claims.member_policy(self.session, member_id, policy_id)
            claim = claims.file_claim(
                self.session, policy_id=policy_id, cause=cause,
                event_date=today() - timedelta(days=days_ago), nights=nights,
                filed_by=f"member:{member_id}", channel="ussd", idempotency_key=idempotency_key)
            line = _claim_line(claim)
        return line

    def claims(self, member_id: int, limit: int) -> list[ClaimLine]:
        return [_claim_line(claim) for claim in claims.claims_of(self.session, member_id, limit)]


def _claim_line(claim: Claim) -> ClaimLine:
    return ClaimLine(claim.id, claim.policy.kind, claim.status, claim.amount,
                     claim.policy.currency)
