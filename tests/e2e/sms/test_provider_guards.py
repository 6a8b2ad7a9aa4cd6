"""Africa's Talking endpoints behind an optional secret and allowlist; the SMS reply budget;
/metrics closed to outsiders in production."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from core import runtime as runtime_module
from gateway import create_app
from messaging.inbound import InboundForm, store_inbound
from messaging.models import InboundSms

SECRET = "at-callback-secret-of-thirty-two-bytes!"
USSD = {"sessionId": "ATUid_guard", "serviceCode": "*384*123#", "phoneNumber": "+254711000101",
        "networkCode": "63902", "text": ""}
SMS = {"from": "+254711000101", "to": "40123", "text": "HELP", "date": "2026-03-02 09:00:00",
       "id": "guard-1", "linkId": "", "networkCode": "63902"}


@contextmanager
def settings_of(runtime: Any, **changes: Any) -> Iterator[None]:
    """The process settings changed for one block (requests read them per request)."""
    before = runtime.settings
    runtime.settings = before.replace(**changes)
    try:
        yield
    finally:
        runtime.settings = before


@pytest.mark.parametrize(("path", "form"), [("/ussd", USSD), ("/sms/inbound", SMS),
                                            ("/sms/opt-out", {"phoneNumber": "+254711000101"})])
def test_with_a_token_set_africas_talking_callbacks_need_it(client, runtime, session, path,
                                                           form) -> None:
    with settings_of(runtime, at_callback_token=SECRET):
        assert client.post(path, data=form).status_code == 403
        assert client.post(f"{path}?token=wrong", data=form).status_code == 403
        assert client.post(f"{path}?token={SECRET}", data=form).status_code == 200
    assert client.post(path, data=form).status_code == 200  # not set: open, as before


def test_a_refused_sms_is_not_stored(client, runtime, session) -> None:
    with settings_of(runtime, at_callback_token=SECRET):
        client.post("/sms/inbound", data=SMS)
    assert session.query(InboundSms).count() == 0


@pytest.mark.parametrize(("hops", "forwarded", "status"), [
    (0, "", 403), (1, "41.215.160.9", 200), (1, "41.215.160.9, 198.51.100.7", 403)])
def test_the_africas_talking_allowlist_checks_the_real_client(runtime, db_connection, redis,
                                                              hops, forwarded, status) -> None:
    app = create_app({"RUNTIME": runtime, "MKOPO_ENV": "test", "secret_key": "s",
                      "instance_path": runtime.settings.instance_path,
                      "callback_token": runtime.settings.callback_token,
                      "pin_pepper": runtime.settings.pin_pepper, "trusted_proxy_hops": hops})
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    with settings_of(runtime, at_ip_allowlist=("41.215.160.0/24",)):
        response = app.test_client().post(
            "/sms/opt-out", data={"phoneNumber": "+254711000101"}, headers=headers,
            environ_base={"REMOTE_ADDR": "127.0.0.9"})
    assert response.status_code == status


def receive(session: Any) -> InboundSms:
    form = InboundForm(str(uuid.uuid4()), f"+2547110{uuid.uuid4().int % 100000:05d}", "40123",
                       "HELP", None, "63902", None)
    sms = store_inbound(session, form)
    assert sms is not None
    session.commit()
    return sms


def test_forged_sms_from_many_numbers_get_at_most_the_hourly_budget_of_answers(
    session, worker, lending, sender, clock, runtime
) -> None:
    with settings_of(runtime, sms_reply_budget_per_hour=3):
        inbound = [receive(session) for _ in range(5)]
        worker.run()
        worker.run()  # a second pass (retries) answers nothing more
    for sms in inbound:
        session.refresh(sms)
    assert [sms.outcome for sms in inbound] == ["help"] * 3 + ["over_budget"] * 2
    assert len(sender.sent) == 3
    clock.advance(hours=1)
    with settings_of(runtime, sms_reply_budget_per_hour=3):
        receive(session)
        worker.run()
    assert len(sender.sent) == 4  # a new hour, a new budget


PRODUCTION = {"MKOPO_ENV": "production", "secret_key": "s" * 32, "callback_token": "t" * 32,
              "pin_pepper": "p" * 32, "pin_key": "k" * 32, "sms_provider": "africastalking",
              "mobile_money_provider": "daraja", "redis_url": "redis://127.0.0.1:1/0",
              "database_url": "postgresql://u@127.0.0.1/x"}


@pytest.fixture
def production_app(runtime: Any, db_connection: Any) -> Iterator[Any]:
    previous = runtime_module._current
    yield lambda **extra: create_app({"RUNTIME": runtime, **PRODUCTION, **extra,
                                      "instance_path": runtime.settings.instance_path})
    runtime_module.configure(previous)  # type: ignore[arg-type]


def test_metrics_are_open_outside_production(client) -> None:
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.5"}).status_code == 200


def test_production_metrics_answer_only_the_machine_itself(production_app, runtime) -> None:
    client = production_app().test_client()
    with settings_of(runtime, env="production"):
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.5"}
                          ).status_code == 404
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}
                          ).status_code == 200


def test_production_metrics_with_a_token_need_the_bearer(production_app, runtime) -> None:
    token = "m" * 40
    client = production_app(metrics_token=token).test_client()
    with settings_of(runtime, env="production", metrics_token=token):
        assert client.get("/metrics").status_code == 404
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}
                          ).status_code == 404
        assert client.get("/metrics", headers={"Authorization": f"Bearer {token}"},
                          environ_base={"REMOTE_ADDR": "203.0.113.5"}).status_code == 200
