"""Log lines never carry a full phone number, not even inside a traceback."""

import logging

import pytest

from gateway.logs import MaskingJsonFormatter


def render(record: logging.LogRecord) -> str:
    return MaskingJsonFormatter("%(levelname)s %(message)s").format(record)


def test_a_phone_in_the_message_is_masked() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "paid by %s", ("+254711000101",),
                               None)
    line = render(record)
    assert "+254711000101" not in line and "+254******101" in line


def test_a_phone_inside_a_traceback_is_masked() -> None:
    try:
        raise ValueError("no member 254711000101")
    except ValueError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None,
                                   sys.exc_info())
    line = render(record)
    assert "254711000101" not in line and "ValueError" in line


@pytest.mark.parametrize(("line", "masked"), [
    ('"POST /mpesa/s3cr3t-T0ken_x/stk HTTP/1.1" 200', '"POST /mpesa/***/stk HTTP/1.1" 200'),
    ("on /mpesa/s3cr3t/b2c/result", "on /mpesa/***/b2c/result"),
    ("GET %2Fmpesa%2Fs3cr3t%2Fstk", "GET %2Fmpesa%2F***%2Fstk"),
    ("POST /ussd?token=s3cr3t&x=1", "POST /ussd?token=***&x=1"),
    ("POST /sms/inbound?x=1&Token=s3cr3t", "POST /sms/inbound?x=1&Token=***"),
    ("GET /healthz", "GET /healthz"),
])
def test_secrets_in_urls_are_masked_in_every_line(line, masked) -> None:
    from gateway.logs import mask_secrets_in

    assert mask_secrets_in(line) == masked
