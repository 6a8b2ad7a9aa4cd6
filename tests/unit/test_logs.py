"""Log lines never carry a full phone number, not even inside a traceback."""

import logging

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
