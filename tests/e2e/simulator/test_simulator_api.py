"""The phone simulator's page and its small JSON API."""

import pytest

from gateway import create_app


def test_the_page_renders_a_phone(client) -> None:
    response = client.get("/simulator")
    assert response.status_code == 200
    assert b'data-testid="screen"' in response.data
    assert b"*384*123#" in response.data
    script = client.get("/simulator/static/simulator.js")
    assert script.status_code == 200 and b"/ussd" in script.data
    script.close()


def test_phones_always_offer_a_new_number(client) -> None:
    phones = client.get("/simulator/api/phones").json["phones"]
    assert phones[-1]["label"] == "New number"
    assert phones[-1]["phone"].startswith("+2547")


@pytest.mark.parametrize("path", ["/simulator/api/inbox?phone=abc", "/simulator/api/prompts"])
def test_bad_phone_numbers_get_a_clear_400(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_phone"


@pytest.mark.parametrize("pin", ["12", "abcd", 1234, "12345"])
def test_an_mpesa_pin_must_be_four_digits(client, pin) -> None:
    response = client.post("/simulator/api/prompts/1", json={"pin": pin})
    assert response.status_code == 400


def test_paybill_validates_its_input(client) -> None:
    response = client.post("/simulator/api/paybill", json={"phone": "0712345678", "amount": -5})
    assert response.status_code == 400


def test_production_has_no_simulator(runtime, db_connection) -> None:
    settings = runtime.settings
    app = create_app({
        "RUNTIME": runtime, "MKOPO_ENV": "production", "secret_key": "s" * 32,
        "callback_token": "t" * 32, "pin_pepper": "p" * 32, "pin_key": "k" * 32,
        "sms_provider": "africastalking", "mobile_money_provider": "daraja",
        "redis_url": "redis://127.0.0.1:1/0",
        "database_url": "postgresql://u@127.0.0.1/x", "instance_path": settings.instance_path,
    })
    assert app.test_client().get("/simulator").status_code == 404


def test_the_simulated_telco_reports_a_sim_swap(client, runtime) -> None:
    from payments.providers import simswap

    assert simswap.recent_swap("+254711000777") is None
    response = client.post("/simulator/api/sim-swap", json={"phone": "0711000777"})
    assert response.status_code == 200 and response.json["phone"] == "+254711000777"
    assert simswap.recent_swap("+254711000777") is not None
    client.post("/simulator/api/sim-swap", json={"phone": "+254711000777", "days_ago": 30})
    assert simswap.recent_swap("+254711000777") is None  # outside SIM_SWAP_HOLD_DAYS


@pytest.mark.parametrize("body", [{}, {"phone": "abc"}, {"phone": "+254711000777",
                                                          "days_ago": -1},
                                  {"phone": "+254711000777", "days_ago": "2"}])
def test_a_bad_sim_swap_report_gets_a_400(client, body) -> None:
    assert client.post("/simulator/api/sim-swap", json=body).status_code == 400
