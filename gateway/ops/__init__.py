"""The operator console at /ops/: server-rendered pages behind a login.

The blueprint, its CSRF protection and security headers are in `blueprint`; each
module below adds its pages to it, and every one is named here.
"""

from __future__ import annotations

from gateway.ops import console_login, impact_views, insurance, people, savings, views
from gateway.ops.blueprint import bp, csrf

PAGE_MODULES = (console_login, impact_views, insurance, people, savings, views)

__all__ = ["PAGE_MODULES", "bp", "csrf"]
