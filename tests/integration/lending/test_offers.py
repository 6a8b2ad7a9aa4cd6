"""`offers_for` and `offer_for`: the rules of `apply_for_loan`, asked before applying."""

import pytest

from lending.applications import offer_for, offers_for
from lending.errors import LendingError


def test_an_open_loan_blocks_only_products_allowing_one(lending) -> None:
    borrower = lending.member(limit=1_000_000)
    lending.product(code="SINGLE", max_active_loans=1)
    double = lending.product(code="DOUBLE", max_active_loans=2)
    lending.application(product=double, borrower=borrower)
    assert [o.product.code for o in offers_for(lending.session, borrower.id)] == ["DOUBLE"]
    with pytest.raises(LendingError) as refused:
        offer_for(lending.session, borrower.id, "SINGLE")
    assert refused.value.code == "application_pending"


def test_the_offer_stops_at_the_credit_limit_left(lending) -> None:
    borrower = lending.member(limit=300_000)
    double = lending.product(code="DOUBLE", max_active_loans=2)
    lending.application(product=double, borrower=borrower, amount=100_000)
    (offer,) = [o for o in offers_for(lending.session, borrower.id) if o.product.code == "DOUBLE"]
    assert (offer.headroom, offer.max_amount) == (200_000, 200_000)


def test_no_product_left_under_the_limit_is_refused_as_over_the_limit(lending) -> None:
    borrower = lending.member(limit=60_000)
    double = lending.product(code="DOUBLE", max_active_loans=2, min_amount=50_000)
    lending.application(product=double, borrower=borrower, amount=50_000)
    with pytest.raises(LendingError) as refused:
        offers_for(lending.session, borrower.id)
    assert refused.value.code == "over_credit_limit"
