"""SIM-swap checks: a payout to a number whose SIM changed recently waits for an operator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from core.clock import utcnow
from gateway.decisions import decide_payout
from payments import intents
from payments.models import PaymentIntent
from payments.providers import simswap
from payments.providers.simswap import CamaraSimSwap, SimSwapError
from reconciliation.resolutions import Actor

CHECKER = Actor("operator:99", "checker@mkopo.test")


def held_payout(session, loan) -> PaymentIntent:
    session.expire_all()
    found = session.scalar(select(PaymentIntent).where(PaymentIntent.loan_id == loan.id))
    assert found is not None
    return found


def test_a_payout_to_a_freshly_swapped_sim_waits_and_an_operator_releases_it(
        session, loans, worker, books) -> None:
    loan = loans.funded(100_000)
    simswap.report_swap(loan.borrower.phone, at=utcnow() - timedelta(days=2))
    worker.run()
    intent = held_payout(session, loan)
    assert intent.status == "awaiting_approval"
    assert "SIM swapped on 28 Feb 2026 (within 7 days)" in (intent.result_desc or "")
    decide_payout(session, intent.id, "approve", actor=CHECKER)
    session.commit()
    worker.run()  # approved: not checked again, paid through the simulator
    session.refresh(loan)
    assert loan.status == "active"
    books.assert_sound()


def test_a_swap_older_than_the_hold_window_does_not_hold(session, loans, worker) -> None:
    loan = loans.funded(100_000)
    simswap.report_swap(loan.borrower.phone, at=utcnow() - timedelta(days=8))
    worker.run()
    session.refresh(loan)
    assert loan.status == "active"


def test_the_hold_window_is_configurable(session, loans, worker, runtime, monkeypatch) -> None:
    monkeypatch.setattr(runtime, "settings", runtime.settings.replace(sim_swap_hold_days=30))
    loan = loans.funded(100_000)
    simswap.report_swap(loan.borrower.phone, at=utcnow() - timedelta(days=8))
    worker.run()
    session.refresh(loan)
    assert held_payout(session, loan).status == "awaiting_approval"


class CountingProvider:
    """A provider that remembers who asked, and reports every number as swapped an hour ago."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def last_swap(self, phone: str) -> datetime | None:
        self.asked.append(phone)
        return utcnow() - timedelta(hours=1)


def test_a_withdrawal_is_checked_in_the_payout_job_not_on_the_request(
        session, loans, worker, books, monkeypatch) -> None:
    provider = CountingProvider()
    monkeypatch.setattr(simswap, "provider_for", lambda settings: provider)
    lender = loans.lender(wallet=500_000)
    provider.asked.clear()
    intent = intents.request_withdrawal(session, member_id=lender.id, phone=lender.phone,
                                        amount=300_000, idempotency_key="wd-swap")
    session.commit()
    assert provider.asked == []  # the USSD/SMS request path never calls the provider
    worker.run()
    assert provider.asked == [lender.phone]
    assert books.intent(intent.id).status == "awaiting_approval"
    decide_payout(session, intent.id, "decline", actor=CHECKER, reason="number taken over")
    session.commit()
    assert books.intent(intent.id).status == "cancelled"
    books.assert_sound()


def test_a_provider_that_fails_holds_the_payout(session, loans, worker, monkeypatch) -> None:
    class Down:
        def last_swap(self, phone: str) -> datetime | None:
            raise SimSwapError("SIM-swap provider answered 503")

    monkeypatch.setattr(simswap, "provider_for", lambda settings: Down())
    loan = loans.funded(100_000)
    worker.run()
    payout = held_payout(session, loan)
    assert payout.status == "awaiting_approval" and "check failed" in payout.result_desc


# --- the CAMARA-shaped provider over HTTP -----------------------------------------------------


def camara(handler) -> CamaraSimSwap:
    return CamaraSimSwap("https://simswap.example/sim-swap/v1/", "token-123",
                         transport=httpx.MockTransport(handler))


def test_camara_asks_retrieve_date_with_the_number_and_a_bearer_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"latestSimChange": "2026-02-28T09:15:00.000Z"})

    assert camara(handler).last_swap("+254711000111") == datetime(2026, 2, 28, 9, 15,
                                                                   tzinfo=UTC)
    [request] = seen
    assert str(request.url) == "https://simswap.example/sim-swap/v1/retrieve-date"
    assert request.headers["Authorization"] == "Bearer token-123"
    assert json.loads(request.content) == {"phoneNumber": "+254711000111"}


@pytest.mark.parametrize("body", [{"latestSimChange": None}, {}])
def test_camara_never_swapped(body) -> None:
    assert camara(lambda request: httpx.Response(200, json=body)).last_swap("+254711") is None


@pytest.mark.parametrize("response", [
    httpx.Response(503, json={"code": "UNAVAILABLE"}),
    httpx.Response(200, json={"latestSimChange": "yesterday"}),
    httpx.Response(200, json={"latestSimChange": "2026-02-28T09:15:00"}),  # no timezone
    httpx.Response(200, text="<html>"),
], ids=["server error", "not a date", "naive date", "not json"])
def test_camara_answers_that_cannot_be_read_raise(response) -> None:
    with pytest.raises(SimSwapError):
        camara(lambda request: response).last_swap("+254711000111")


def test_camara_unreachable_raises() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("no route", request=request)

    with pytest.raises(SimSwapError, match="unreachable"):
        camara(handler).last_swap("+254711000111")


def test_camara_needs_its_url_and_token(settings) -> None:
    with pytest.raises(ValueError, match="SIM_SWAP_API_URL"):
        simswap.provider_for(settings.replace(sim_swap_provider="camara"))
    with pytest.raises(ValueError, match="SIM_SWAP_PROVIDER"):
        simswap.provider_for(settings.replace(sim_swap_provider="telepathy"))
