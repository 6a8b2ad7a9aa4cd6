"""Flask's cookie session, opened only for requests that carry one.

Flask opens the session of every request, and its cookie interface builds a signing
serializer (key derivation included) before it even looks for the cookie: ~40 µs, as much
as a quarter of a bare request. USSD, SMS and M-Pesa callbacks never send a cookie, so a
request without one gets the same empty session without that work; one with a cookie is
opened exactly as Flask would.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class CookieSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)
