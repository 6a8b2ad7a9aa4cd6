"""Every atom an access log format reads is masked, however the format is written."""

from __future__ import annotations

import datetime
import logging
from typing import Any

import pytest
from gunicorn.config import Config

from gateway.gunicorn_conf import MaskingLogger

TOKEN = "a-callback-token-that-must-never-be-written"


class Request:
    uri = f"/mpesa/{TOKEN}/stk?phone=%2B254711000101"
    path, query, method, version = f"/mpesa/{TOKEN}/stk", "phone=%2B254711000101", "POST", (1, 1)
    headers = [("X-CALLER", 'Caller "+254711000202"'), ("REFERER", f"https://x/mpesa/{TOKEN}/b")]


class Response:
    status, status_code, sent = "200 OK", 200, 2
    headers = [("Content-Type", "text/plain")]


ENVIRON = {"REQUEST_METHOD": "POST", "RAW_URI": Request.uri, "PATH_INFO": Request.path,
           "QUERY_STRING": Request.query, "SERVER_PROTOCOL": "HTTP/1.1",
           "REMOTE_ADDR": "127.0.0.1", "HTTP_REFERER": f"https://x/mpesa/{TOKEN}/b"}


def access_line(log_format: str, caplog: pytest.LogCaptureFixture) -> str:
    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", log_format)
    logger = MaskingLogger(config)
    logger.access_log.propagate = True
    with caplog.at_level(logging.INFO, logger="gunicorn.access"):
        logger.access(Response(), Request(), ENVIRON, datetime.timedelta(milliseconds=3))
    return caplog.records[-1].getMessage()


@pytest.mark.parametrize("log_format", [
    '%(h)s "%(r)s" %(s)s "%(f)s"',
    '%(U)s?%(q)s %({x-caller}i)s %({http_referer}e)s',
])
def test_the_atoms_a_format_reads_are_masked(log_format: str, caplog: Any) -> None:
    line = access_line(log_format, caplog)
    assert TOKEN not in line
    assert "254711000101" not in line and "254711000202" not in line
    assert "/mpesa/***" in line


def test_quotes_in_an_atom_are_escaped_and_missing_atoms_are_a_dash(caplog: Any) -> None:
    line = access_line('%({x-caller}i)s %({x-missing}i)s', caplog)
    assert line == 'Caller \\"+254******202\\" -'
