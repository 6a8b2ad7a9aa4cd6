"""Whatever a phone sends, the answer is a 200 with `CON `/`END ` and a screen that fits."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.gsm7 import USSD_MAX, septets

from support.ussd import PHONE, SERVICE_CODE

FIXTURES_OK = settings(max_examples=60, deadline=None,
                       suppress_health_check=[HealthCheck.function_scoped_fixture])

answers = st.one_of(
    st.sampled_from(["1", "2", "3", "4", "5", "6", "7", "8", "0", "00", "98", "99", "1357",
                     "1111", "5000", "2580", "", "Amina Wanjiru", "12345678"]),
    st.text(max_size=40),
    st.text(alphabet="0123456789*#", max_size=12),
)


def _post(client, session_id: str, text: str, phone: str = PHONE):
    return client.post("/ussd", data={"sessionId": session_id, "serviceCode": SERVICE_CODE,
                                      "phoneNumber": phone, "networkCode": "63902",
                                      "text": text})


def _assert_fits(response) -> str:
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.startswith(("CON ", "END ")), body
    assert septets(body[4:]) <= USSD_MAX, body
    assert "something went wrong" not in body  # the engine itself never fails on input
    return body


@FIXTURES_OK
@given(path=st.lists(answers, max_size=14), registered=st.booleans())
def test_random_answer_paths_never_break(client, services, clock, path, registered) -> None:
    if registered and PHONE not in services.members:
        services.add_member(PHONE)
    if not registered:
        services.members.pop(PHONE, None)
    session_id = f"fuzz-{uuid.uuid4().hex}"
    sent: list[str] = []
    body = _assert_fits(_post(client, session_id, ""))
    for answer in path:
        sent.append(answer)
        body = _assert_fits(_post(client, session_id, "*".join(sent)))
        if body.startswith("END "):
            break


@FIXTURES_OK
@given(text=st.text(max_size=3000))
def test_any_first_text_is_answered(client, services, clock, text) -> None:
    _assert_fits(_post(client, f"fuzz-{uuid.uuid4().hex}", text))


@FIXTURES_OK
# Lone surrogates are left out: no phone can send them as UTF-8.
@given(text=st.text(alphabet=st.characters(min_codepoint=0x80, exclude_categories=("Cs",)),
                    min_size=1, max_size=500))
def test_non_ascii_answers_are_answered(client, services, clock, text) -> None:
    services.members.pop(PHONE, None)
    session_id = f"fuzz-{uuid.uuid4().hex}"
    _assert_fits(_post(client, session_id, ""))
    _assert_fits(_post(client, session_id, "1"))
    _assert_fits(_post(client, session_id, f"1*{text}"))


def test_a_very_long_path_ends_politely(client, services, clock) -> None:
    session_id = f"fuzz-{uuid.uuid4().hex}"
    _assert_fits(_post(client, session_id, ""))
    body = _assert_fits(_post(client, session_id, "1*" * 20_000))
    assert body.startswith("END ")


def test_many_answers_in_one_request_are_bounded(client, services, clock) -> None:
    services.add_member(PHONE)
    body = _assert_fits(_post(client, f"fuzz-{uuid.uuid4().hex}", "*".join(["1", "0"] * 200)))
    assert body.startswith("CON ")
