"""The `ussd` helper: a phone dialling the real `/ussd` endpoint, with the fake domain behind."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from core.gsm7 import USSD_MAX, septets

from support.fakes_ussd import FakeBorrowerServices  # tests/ is on sys.path (rootdir conftest)

PHONE = "+254711000101"
SERVICE_CODE = "*384*123#"


class Phone:
    """One handset: `dial()` opens a session, `reply("2")` answers the current screen."""

    def __init__(self, client: Any, phone: str = PHONE) -> None:
        self.client = client
        self.phone = phone
        self.session_id = ""
        self.answers: list[str] = []
        self.screen = ""
        self.ended = False

    def post(self, text: str, session_id: str | None = None) -> Any:
        """Send one raw request of this session; returns the Flask response."""
        return self.client.post("/ussd", data={
            "sessionId": session_id or self.session_id, "serviceCode": SERVICE_CODE,
            "phoneNumber": self.phone, "networkCode": "63902", "text": text,
        })

    def dial(self, *answers: str) -> str:
        """Start a new session (optionally answering screens in a row) and return the screen."""
        self.session_id = f"ATUid_{uuid.uuid4().hex[:12]}"
        self.answers = []
        self._send()
        for answer in answers:
            self.reply(answer)
        return self.screen

    def reply(self, answer: str) -> str:
        """Answer the current screen and return the next one."""
        assert not self.ended, f"session already ended on: {self.screen}"
        self.answers.append(answer)
        return self._send()

    def _send(self) -> str:
        response = self.post("*".join(self.answers))
        assert response.status_code == 200, response.data
        assert response.mimetype == "text/plain"
        body = response.get_data(as_text=True)
        assert body.startswith(("CON ", "END ")), body
        self.screen, self.ended = body[4:], body.startswith("END ")
        assert septets(self.screen) <= USSD_MAX, self.screen
        return self.screen

    def expect(self, *fragments: str, end: bool | None = None) -> str:
        """Assert the screen shows every fragment (and is CON/END when told)."""
        for fragment in fragments:
            assert fragment in self.screen, f"{fragment!r} not in {self.screen!r}"
        if end is not None:
            assert self.ended is end, f"expected {'END' if end else 'CON'}: {self.screen!r}"
        return self.screen

    def drop(self, status: str = "Incomplete") -> Any:
        """The telco reports that this session ended."""
        return self.client.post("/ussd/events", data={
            "sessionId": self.session_id, "phoneNumber": self.phone, "serviceCode": SERVICE_CODE,
            "networkCode": "63902", "status": status, "input": "*".join(self.answers),
            "lastAppResponse": f"CON {self.screen}", "hopsCount": str(len(self.answers) + 1),
            "durationInMillis": "41250", "cost": "KES 0.0000", "errorMessage": "",
            "date": "2026-03-02 09:14:03",
        })


@pytest.fixture
def services(app: Any) -> FakeBorrowerServices:
    """The in-memory domain behind `/ussd` for this test."""
    fake = FakeBorrowerServices()
    app.extensions["ussd_services_factory"] = lambda _session: fake
    return fake


@pytest.fixture
def ussd(client: Any, services: FakeBorrowerServices, clock: Any) -> Phone:
    return Phone(client)


@pytest.fixture
def member(services: FakeBorrowerServices) -> Any:
    """An active English-speaking member with a loan, on the helper's phone (PIN 1357)."""
    return services.add_member(PHONE)


@pytest.fixture
def mwanachama(services: FakeBorrowerServices) -> Any:
    """The same, speaking Kiswahili."""
    return services.add_member(PHONE, name="Baraka Otieno", language="sw")
