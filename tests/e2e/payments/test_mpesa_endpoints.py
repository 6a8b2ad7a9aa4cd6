"""The /mpesa/<token>/… endpoints: store raw, acknowledge, never trust the wrong caller."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from core.jobs import get_queue
from gateway import create_app
from payments.config import overridden
from payments.models import CallbackInbox, ReconciliationBreak

TOKEN = "test-callback-token"
ACK = {"ResultCode": 0, "ResultDesc": "Accepted"}

FIXTURES = [
    ("stk", "daraja_stk_callback_success.json", "ws_CO_28112026091530123711000101"),
    ("stk", "daraja_stk_callback_cancelled.json", "ws_CO_28112026092011456711000101"),
    ("stk", "daraja_stk_callback_unreachable.json", "ws_CO_28112026092511789711000101"),
    ("c2b/confirmation", "daraja_c2b_confirmation.json", "TKS9Q8W7E6"),
    ("b2c/result", "daraja_b2c_result_success.json", "mkopo-disb-1042-1"),
    ("b2c/result", "daraja_b2c_result_failure.json", "mkopo-disb-1043-1"),
    ("b2c/timeout", "daraja_b2c_timeout.json", "mkopo-disb-1044-1"),
    ("reversal/result", "daraja_reversal_result.json", "mkopo-rev-77-1"),
]


def rows(session) -> list[CallbackInbox]:
    session.expire_all()
    return list(session.scalars(select(CallbackInbox).order_by(CallbackInbox.id)))


def processing_jobs() -> int:
    """Jobs waiting in the payments queue to process stored callbacks (drains of the inbox)."""
    return sum(job.func_name == "payments.processing.drain_inbox"
               for job in get_queue("payments").jobs)


def post_raw(client, path: str, body: str, token: str = TOKEN):
    return client.post(f"/mpesa/{token}/{path}", data=body,
                       headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(("path", "name", "external_id"), FIXTURES)
def test_every_fixture_is_stored_raw_and_acknowledged(
    client, session, fixture_payload, path, name, external_id
) -> None:
    # Odd spacing on purpose: the body must be kept byte for byte, not re-serialised.
    raw = json.dumps(fixture_payload(name), indent=3)
    response = post_raw(client, path, raw)
    assert response.status_code == 200
    assert response.json == ACK
    (row,) = rows(session)
    assert (row.provider, row.external_id, row.status, row.raw) == (
        "mpesa", external_id, "received", raw)
    assert row.remote_addr == "127.0.0.1"
    assert processing_jobs() == 1


def test_a_wrong_token_gets_404_leaves_nothing_and_one_log_line(
    client, session, fixture_payload, caplog
) -> None:
    body = json.dumps(fixture_payload("daraja_stk_callback_success.json"))
    with caplog.at_level(logging.WARNING, logger="gateway.mpesa"):
        response = post_raw(client, "stk", body, token="guessed-token")
    assert response.status_code == 404
    assert rows(session) == [] and processing_jobs() == 0
    lines = [r for r in caplog.records if r.name == "gateway.mpesa"]
    assert len(lines) == 1 and "guessed-token" not in lines[0].getMessage()


def test_a_token_of_another_length_is_refused_too(client, session) -> None:
    assert post_raw(client, "stk", "{}", token="x").status_code == 404
    assert post_raw(client, "stk", "{}", token=TOKEN + "x" * 50).status_code == 404
    assert rows(session) == []


def test_an_unknown_callback_path_is_404(client, session) -> None:
    assert post_raw(client, "b2c/whatever", "{}").status_code == 404
    assert rows(session) == []


@pytest.mark.parametrize("body", ['{"Body": {"stkCallback": ', "not json at all", "[1, 2]"])
def test_malformed_json_gets_400_and_is_kept_for_an_operator(client, session, body) -> None:
    response = post_raw(client, "stk", body)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "malformed_callback"
    (row,) = rows(session)
    assert (row.status, row.raw) == ("failed", body)
    assert row.external_id.startswith("unreadable:")
    assert processing_jobs() == 0


DEEP = 100_000  # far past Python's recursion limit, well under the 1 MiB body limit


@pytest.mark.parametrize("path", ["stk", "c2b/validation", "c2b/confirmation", "b2c/result"])
@pytest.mark.parametrize("body", [
    "[" * DEEP + "]" * DEEP,
    '{"TransID": "TKDEEP0001", "Body": ' + "{\"a\": " * DEEP + "1" + "}" * DEEP + "}",
], ids=["bare", "inside-a-callback"])
def test_deeply_nested_json_gets_400_and_is_kept_raw(client, session, path, body) -> None:
    response = post_raw(client, path, body)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "malformed_callback"
    (row,) = rows(session)
    assert (row.status, row.raw) == ("failed", body)
    assert processing_jobs() == 0


def test_json_without_its_idempotency_key_gets_400(client, session) -> None:
    response = post_raw(client, "c2b/confirmation", json.dumps({"TransAmount": "500.00"}))
    assert response.status_code == 400
    (row,) = rows(session)
    assert row.status == "failed" and row.error == "no idempotency key"


def test_a_duplicate_is_acknowledged_and_stored_once(client, session, fixture_payload) -> None:
    body = json.dumps(fixture_payload("daraja_c2b_confirmation.json"))
    for _ in range(3):
        response = post_raw(client, "c2b/confirmation", body)
        assert response.status_code == 200 and response.json == ACK
    assert len(rows(session)) == 1
    assert processing_jobs() == 1
    assert session.scalars(select(ReconciliationBreak)).all() == []


def test_the_same_key_with_another_amount_is_a_break_not_a_second_row(
    client, session, fixture_payload
) -> None:
    payload = fixture_payload("daraja_c2b_confirmation.json")
    post_raw(client, "c2b/confirmation", json.dumps(payload))
    tampered = {**payload, "TransAmount": "5000.00"}
    response = post_raw(client, "c2b/confirmation", json.dumps(tampered))
    assert response.status_code == 200
    assert len(rows(session)) == 1
    (item,) = session.scalars(select(ReconciliationBreak)).all()
    assert (item.type, item.amount, item.details["first_amount"]) == (
        "amount_mismatch", 500_000, 50_000)


def test_the_ip_allowlist_refuses_other_addresses(runtime, db_connection, session,
                                                  fixture_payload) -> None:
    app = create_app({"RUNTIME": runtime, "MKOPO_ENV": "test",
                      "instance_path": runtime.settings.instance_path,
                      "callback_token": TOKEN, "secret_key": "s", "pin_pepper": "p"})
    body = json.dumps(fixture_payload("daraja_stk_callback_success.json"))
    for allowlist, status in ((("196.201.214.0/24",), 403), (("127.0.0.1",), 200)):
        runtime.settings = runtime.settings.replace(mpesa_ip_allowlist=allowlist)
        try:
            response = post_raw(app.test_client(), "stk", body)
        finally:
            runtime.settings = runtime.settings.replace(mpesa_ip_allowlist=())
        assert response.status_code == status
    assert len(rows(session)) == 1


PROXY = "127.0.0.9"  # our reverse proxy, as the WSGI server sees it
SAFARICOM = "196.201.214.200"


@pytest.mark.parametrize(("hops", "forwarded_for", "status"), [
    (1, SAFARICOM, 200),  # the proxy forwarded M-Pesa's address: allowed
    (1, f"{SAFARICOM}, 203.0.113.9", 403),  # a forged first entry; the proxy saw 203.0.113.9
    (0, SAFARICOM, 403),  # no trusted proxy: the header is anyone's, the peer is the proxy
    (2, f"{SAFARICOM}, {PROXY}", 200),  # two proxies in a row
], ids=["one-proxy", "forged-header", "no-proxy-trusted", "two-proxies"])
def test_behind_a_proxy_the_allowlist_checks_the_real_client(
    runtime, db_connection, session, fixture_payload, hops, forwarded_for, status
) -> None:
    app = create_app({"RUNTIME": runtime, "MKOPO_ENV": "test",
                      "instance_path": runtime.settings.instance_path,
                      "callback_token": TOKEN, "secret_key": "s", "pin_pepper": "p",
                      "trusted_proxy_hops": hops})
    body = json.dumps(fixture_payload("daraja_stk_callback_success.json"))
    runtime.settings = runtime.settings.replace(mpesa_ip_allowlist=("196.201.214.0/24",))
    try:
        response = app.test_client().post(
            f"/mpesa/{TOKEN}/stk", data=body, environ_base={"REMOTE_ADDR": PROXY},
            headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded_for})
    finally:
        runtime.settings = runtime.settings.replace(mpesa_ip_allowlist=())
    assert response.status_code == status
    if status == 200:
        (row,) = rows(session)
        assert row.remote_addr == SAFARICOM


def test_a_logged_callback_path_never_shows_the_token(client, session, caplog,
                                                       monkeypatch) -> None:
    from gateway import mpesa
    from gateway.logs import json_formatter

    def broken(*_args, **_kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(mpesa, "store_callback", broken)
    with caplog.at_level(logging.WARNING):
        assert post_raw(client, "stk", '{"a": 1}').status_code == 500
        assert post_raw(client, "stk", "{}", token="near-miss-token").status_code == 404
    lines = [json_formatter().format(record) for record in caplog.records]
    assert any("/mpesa/***/stk" in line for line in lines), lines
    assert not any(TOKEN in line or "near-miss-token" in line for line in lines), lines


def test_c2b_validation_accepts_by_default(client, session, fixture_payload) -> None:
    payload = {**fixture_payload("daraja_c2b_validation.json"), "BillRefNumber": "NOSUCH"}
    response = post_raw(client, "c2b/validation", json.dumps(payload))
    assert response.json == ACK
    (row,) = rows(session)
    assert row.status == "processed"
    assert processing_jobs() == 0


def test_c2b_validation_may_reject_unknown_accounts_when_the_business_says_so(
    client, session, fixture_payload, loans
) -> None:
    loan = loans.funded(commit=False)
    session.commit()
    payload = fixture_payload("daraja_c2b_validation.json")
    with overridden(c2b_validation="reject_unknown"):
        unknown = post_raw(client, "c2b/validation",
                           json.dumps({**payload, "BillRefNumber": "NOSUCH"}))
        known = post_raw(client, "c2b/validation", json.dumps(
            {**payload, "TransID": "TKS000KNOWN", "BillRefNumber": loan.reference.lower()}))
        by_phone = post_raw(client, "c2b/validation", json.dumps(
            {**payload, "TransID": "TKS000PHONE", "BillRefNumber": loan.borrower.phone}))
    assert unknown.json == {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}
    assert known.json == ACK and by_phone.json == ACK
