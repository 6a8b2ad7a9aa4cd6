"""Reading policies and claims for the console and the API, scoped to a field partner or not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from insurance.models import Claim, Policy
from insurance.policies import shown_status
from lending.models import Loan, Member


def _scoped(query: Select[Any], member_column: Any, partner_id: int | None) -> Select[Any]:
    """Only members vetted by this partner (None: everyone)."""
    if partner_id is None:
        return query
    return query.join(Member, Member.id == member_column).where(
        Member.field_partner_id == partner_id)


def list_policies(session: Session, *, partner_id: int | None = None, kind: str | None = None,
                  limit: int = 50, offset: int = 0) -> tuple[Sequence[Policy], int]:
    """Policies, newest first, with the total before paging."""
    query = _scoped(select(Policy), Policy.member_id, partner_id)
    if kind is not None:
        query = query.where(Policy.kind == kind)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Policy.id.desc()).limit(limit).offset(offset)).all()
    return rows, int(total)


def list_claims(session: Session, *, partner_id: int | None = None, status: str | None = None,
                limit: int = 50, offset: int = 0) -> tuple[Sequence[Claim], int]:
    """Claims, oldest undecided first when filtered by status, otherwise newest first."""
    query = _scoped(select(Claim), Claim.member_id, partner_id)
    if status is not None:
        query = query.where(Claim.status == status)
    order = Claim.id.asc() if status == "filed" else Claim.id.desc()
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(order).limit(limit).offset(offset)).all()
    return rows, int(total)


def visible_policy(session: Session, policy_id: int, partner_id: int | None) -> Policy | None:
    """The policy if this partner (None: an operator) may see it."""
    query = _scoped(select(Policy).where(Policy.id == policy_id), Policy.member_id, partner_id)
    return session.scalar(query)


def visible_claim(session: Session, claim_id: int, partner_id: int | None) -> Claim | None:
    query = _scoped(select(Claim).where(Claim.id == claim_id), Claim.member_id, partner_id)
    return session.scalar(query)


def loan_reference(session: Session, policy: Policy) -> str | None:
    if policy.loan_id is None:
        return None
    return session.scalar(select(Loan.reference).where(Loan.id == policy.loan_id))


def policy_json(session: Session, policy: Policy) -> dict[str, Any]:
    """A policy as the API and console show it: members by id, no phone numbers."""
    return {
        "id": policy.id, "kind": policy.kind, "status": shown_status(session, policy),
        "member_id": policy.member_id, "loan_id": policy.loan_id,
        "loan_reference": loan_reference(session, policy), "premium": policy.premium,
        "currency": policy.currency, "nightly_benefit": policy.nightly_benefit,
        "max_nights": policy.max_nights,
        "starts_on": policy.starts_on.isoformat() if policy.starts_on else None,
        "ends_on": policy.ends_on.isoformat() if policy.ends_on else None,
        "created_at": policy.created_at.isoformat(),
    }


def claim_json(claim: Claim) -> dict[str, Any]:
    return {
        "id": claim.id, "policy_id": claim.policy_id, "kind": claim.policy.kind,
        "member_id": claim.member_id, "cause": claim.cause,
        "event_date": claim.event_date.isoformat(), "nights": claim.nights,
        "amount": claim.amount, "currency": claim.policy.currency, "status": claim.status,
        "filed_by": claim.filed_by, "channel": claim.channel, "decided_by": claim.decided_by,
        "decided_at": claim.decided_at.isoformat() if claim.decided_at else None,
        "reason": claim.reason, "payout_attempts": claim.payout_attempts,
        "paid_at": claim.paid_at.isoformat() if claim.paid_at else None,
        "created_at": claim.created_at.isoformat(),
    }


def member_names(session: Session, member_ids: set[int]) -> dict[int, str]:
    """Each member's full name, for pages that list policies and claims by member."""
    if not member_ids:
        return {}
    rows = session.execute(select(Member.id, Member.first_name, Member.last_name)
                           .where(Member.id.in_(member_ids)))
    return {row.id: " ".join(part for part in (row.first_name, row.last_name) if part)
            for row in rows}
