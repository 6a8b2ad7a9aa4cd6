"""The Africa's Talking contract: form in, `CON`/`END` text out, 400s, replays, events."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from menus.models import UssdEvent

from support.ussd import PHONE, Phone

PIN = "1357"


def test_first_request_of_the_at_fixture_gets_the_welcome(client, services, fixture_payload,
                                                          clock) -> None:
    response = client.post("/ussd", data=fixture_payload("at_ussd_request_first.json"))
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True).startswith("CON Welcome to Mkopo")


def test_later_request_of_the_at_fixture_asks_for_the_pin(client, services, member,
                                                          fixture_payload, clock) -> None:
    first = fixture_payload("at_ussd_request_first.json")
    later = fixture_payload("at_ussd_request_later.json")
    client.post("/ussd", data=first)
    client.post("/ussd", data={**later, "text": "3"})
    response = client.post("/ussd", data=later)
    assert response.get_data(as_text=True).startswith("CON Enter your PIN")


@pytest.mark.parametrize("missing", ["sessionId", "serviceCode", "phoneNumber", "text"])
def test_a_missing_field_is_a_400(client, services, fixture_payload, missing) -> None:
    form = fixture_payload("at_ussd_request_first.json")
    del form[missing]
    response = client.post("/ussd", data=form)
    assert response.status_code == 400
    assert missing in response.get_data(as_text=True)


@pytest.mark.parametrize(("field", "value"), [
    ("phoneNumber", "not-a-phone"),
    ("phoneNumber", "+2547"),
    ("sessionId", "x" * 129),
    ("sessionId", "  "),
    ("serviceCode", ""),
])
def test_a_malformed_field_is_a_400(client, services, fixture_payload, field, value) -> None:
    form = {**fixture_payload("at_ussd_request_first.json"), field: value}
    assert client.post("/ussd", data=form).status_code == 400


def test_a_local_phone_format_is_accepted(client, services, member, fixture_payload,
                                          clock) -> None:
    form = {**fixture_payload("at_ussd_request_first.json"), "phoneNumber": "0711000101"}
    assert "Hi Amina" in client.post("/ussd", data=form).get_data(as_text=True)


def test_the_same_request_twice_gets_the_same_screen(ussd, member) -> None:
    ussd.dial("1")
    first = ussd.post("1").get_data(as_text=True)
    again = ussd.post("1").get_data(as_text=True)
    assert first == again == "CON Enter your PIN\n0 Back 00 Home"


def test_a_replayed_acceptance_applies_once(ussd, services, member) -> None:
    ussd.dial("2", "1", "5000", "1", "1", "1")
    ussd.reply(PIN)
    final = ussd.screen
    replayed = ussd.post("*".join(ussd.answers)).get_data(as_text=True)
    assert replayed == f"END {final}"
    assert len(services.applications) == 1
    assert services.calls.count("apply") == 1


def test_a_replayed_repayment_requests_one_prompt(ussd, services, member) -> None:
    ussd.dial("3", "1", PIN, "1")
    ussd.expect("M-Pesa prompt", end=True)
    for _ in range(3):
        ussd.post("*".join(ussd.answers))
    assert len(services.repayments) == 1
    assert services.calls.count("request_repayment") == 1


def test_a_request_after_the_end_is_answered_politely(ussd, member) -> None:
    ussd.dial("3", "1", PIN, "2")
    body = ussd.post("*".join([*ussd.answers, "1"])).get_data(as_text=True)
    assert body.startswith("END ") and "*384*123#" in body


def test_a_domain_crash_ends_politely_with_200(ussd, services, member) -> None:
    def boom(member_id: int) -> None:
        raise RuntimeError("database went away")

    services.balance = boom  # type: ignore[method-assign]
    ussd.dial("1", PIN)
    ussd.expect("Sorry, something went wrong", end=True)


def test_missing_wiring_ends_politely_with_200(app, client, fixture_payload, clock) -> None:
    def broken(_session: object) -> object:
        raise RuntimeError("no adapter yet")

    app.extensions["ussd_services_factory"] = broken
    response = client.post("/ussd", data=fixture_payload("at_ussd_request_first.json"))
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("END Sorry")


def test_unicode_and_huge_answers_never_break_the_protocol(ussd, services, member) -> None:
    ussd.dial("7", "2")
    ussd.reply("Nimeshindwa kulipa 😞 — mvua imeharibu mazao " * 200)
    ussd.expect("up to 160 letters", end=False)
    ussd.reply("Mvua imeharibu mazao — naomba muda 🙏")
    ussd.expect("T0001", end=True)
    assert services.tickets[0]["text"] == "Mvua imeharibu mazao - naomba muda ?"


def _dropoff(screen: str, status: str) -> float:
    value = REGISTRY.get_sample_value("mkopo_ussd_session_end_total",
                                      {"screen": screen, "status": status})
    return value or 0.0


def test_events_are_stored_once_and_counted_by_last_screen(ussd, member, session,
                                                           fixture_payload) -> None:
    ussd.dial("2", "1")
    before = _dropoff("apply.amount", "Incomplete")
    assert ussd.drop("Incomplete").status_code == 200
    assert ussd.drop("Incomplete").status_code == 200  # resent by the telco
    rows = session.scalars(select(UssdEvent).where(UssdEvent.session_id == ussd.session_id))
    [row] = list(rows)
    assert (row.phone, row.status, row.last_screen, row.hops) == (
        PHONE, "Incomplete", "apply.amount", 3)
    assert _dropoff("apply.amount", "Incomplete") == before + 1


def test_the_at_event_fixture_is_accepted(client, services, session, fixture_payload) -> None:
    form = fixture_payload("at_ussd_event_incomplete.json")
    assert client.post("/ussd/events", data=form).status_code == 200
    row = session.scalar(select(UssdEvent).where(UssdEvent.session_id == form["sessionId"]))
    assert row is not None and row.last_screen == "unknown" and row.duration_ms == 41250
    assert row.occurred_at is not None and row.occurred_at.year == 2026


def test_an_event_with_counts_no_column_holds_is_stored_without_them(
        client, services, session, fixture_payload) -> None:
    form = {**fixture_payload("at_ussd_event_incomplete.json"),
            "hopsCount": "72964565156341900691812384768", "durationInMillis": "-2147483649"}
    assert client.post("/ussd/events", data=form).status_code == 200
    row = session.scalar(select(UssdEvent).where(UssdEvent.session_id == form["sessionId"]))
    assert row is not None and (row.hops, row.duration_ms) == (None, None)


@pytest.mark.parametrize("missing", ["sessionId", "phoneNumber", "status"])
def test_an_event_without_its_keys_is_a_400(client, services, fixture_payload,
                                            missing) -> None:
    form = fixture_payload("at_ussd_event_incomplete.json")
    del form[missing]
    assert client.post("/ussd/events", data=form).status_code == 400


def test_two_phones_do_not_share_sessions(client, services, clock) -> None:
    services.add_member("+254711000102", name="Juma Mwangi")
    amina, juma = Phone(client), Phone(client, "+254711000102")
    amina.dial()
    juma.dial()
    assert "Welcome to Mkopo" in amina.screen and "Hi Juma" in juma.screen


@pytest.mark.parametrize("answer", ["²", "١", "１"])
def test_digits_of_other_scripts_are_not_choices(ussd, member, answer) -> None:
    ussd.dial(answer)
    ussd.expect("Invalid choice.", end=False)
