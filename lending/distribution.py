"""Splitting collected money between the platform and a loan's lenders, exactly.

Interest: the platform keeps round-half-even(interest x share%), the rest is split
over the stakes in proportion to their funded amounts. Principal is split in
proportion to what each stake is still owed, so no lender is ever repaid more
principal than they put in and the last repayment settles every stake exactly.
Both splits use largest remainder (core.money.allocate): the parts sum to the whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, TypeVar

from core.money import allocate, round_half_even
from lending.models import LoanFunding

S = TypeVar("S", bound="Stake")


@dataclass(frozen=True, slots=True)
class StakeShare:
    """What one stake (a lender's funding of a loan) receives from one collection."""

    funding_id: int
    lender_id: int
    interest: int
    principal: int

    def to_json(self) -> dict[str, int]:
        return {"funding_id": self.funding_id, "lender_id": self.lender_id,
                "interest": self.interest, "principal": self.principal}


@dataclass(frozen=True, slots=True)
class Distribution:
    """The platform's share of interest and every stake's share of a collection."""

    platform_interest: int
    shares: tuple[StakeShare, ...]

    def per_lender(self) -> dict[int, int]:
        """Total owed to each lender's wallet (stakes of one lender added together)."""
        totals: dict[int, int] = defaultdict(int)
        for share in self.shares:
            totals[share.lender_id] += share.interest + share.principal
        return dict(totals)


def platform_interest(interest: int, share_percent: Decimal) -> int:
    """The platform's cut of collected interest, half-even to the minor unit."""
    return round_half_even(Decimal(interest) * share_percent / 100)


class Stake(Protocol):
    """What a split reads of a stake: a `LoanFunding`, or the same fields as plain values."""

    @property
    def id(self) -> int: ...
    @property
    def lender_id(self) -> int: ...
    @property
    def amount(self) -> int: ...
    @property
    def refunded_at(self) -> datetime | None: ...
    @property
    def principal_outstanding(self) -> int: ...


def live_stakes(stakes: Sequence[S]) -> list[S]:
    """Stakes that still stand behind the loan (not refunded), oldest first."""
    return sorted((s for s in stakes if s.refunded_at is None), key=lambda s: s.id)


def distribute(
    stakes: Sequence[Stake], interest: int, principal: int, share_percent: Decimal
) -> Distribution:
    """Split collected interest and principal between the platform and the stakes."""
    live = live_stakes(stakes)
    platform = platform_interest(interest, share_percent)
    interests = _split(interest - platform, [s.amount for s in live])
    principals = _split(principal, [s.principal_outstanding for s in live])
    shares = tuple(
        StakeShare(s.id, s.lender_id, i, p)
        for s, i, p in zip(live, interests, principals, strict=True)
    )
    return Distribution(platform, shares)


def _split(total: int, weights: list[int]) -> list[int]:
    if total == 0:
        return [0] * len(weights)
    return allocate(total, weights)


def credit_stakes(stakes: Sequence[LoanFunding], distribution: Distribution) -> None:
    """Record on each stake what it was paid."""
    by_id = {s.id: s for s in stakes}
    for share in distribution.shares:
        by_id[share.funding_id].interest_earned += share.interest
        by_id[share.funding_id].principal_repaid += share.principal
