"""The console's savings page: totals, accounts with balances, chamas and their rotation."""

from __future__ import annotations

from flask import abort, render_template

from gateway.database import get_session
from gateway.ops.blueprint import bp
from gateway.ops.console_login import current_operator, requires
from gateway.ops.views import PAGE_SIZE, _int
from savings import queries


def _partner() -> int | None:
    return current_operator().field_partner_id


@bp.get("/savings")
@requires("viewer", partners=True)
def savings_page() -> str:
    """Money saved and interest paid, the latest accounts, and every chama."""
    session, partner = get_session(), _partner()
    offset = _int("offset")
    accounts, total = queries.list_accounts(session, field_partner_id=partner, limit=PAGE_SIZE,
                                            offset=offset)
    return render_template("ops/savings.html", totals=queries.totals(session, partner),
                           accounts=accounts, total=total, offset=offset, page_size=PAGE_SIZE,
                           chamas=queries.list_chamas(session, partner))


@bp.get("/savings/chamas/<int:chama_id>")
@requires("viewer", partners=True)
def savings_chama(chama_id: int) -> str:
    """One chama: its members in payout order, what each paid, the payouts so far."""
    found = queries.find_chama(get_session(), chama_id, _partner())
    if found is None:
        abort(404)
    return render_template("ops/savings_chama.html", chama=found)
