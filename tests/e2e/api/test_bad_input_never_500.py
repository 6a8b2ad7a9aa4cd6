"""Whatever a caller sends to whatever route, the answer is never a 5xx.

Every rule in the live `app.url_map` (but static files and /metrics) gets
hostile input drawn by hypothesis: odd path segments, query strings, form and
JSON bodies, content types and methods, with and without API keys of every
role. Routes are grouped by the caller who reaches them (API, M-Pesa, Africa's
Talking, console, simulator, anything else); a new route lands in one of the
groups by its prefix, so it is covered without touching this file.

This lives under tests/e2e/api/ for the `api_token` and `auth` fixtures.
"""

from __future__ import annotations

import copy
import json
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from werkzeug.routing import Rule

from core import runtime as runtime_module
from gateway import create_app
from lending import members
from lending.applications import apply_for_loan
from lending.catalog import create_product
from lending.models import FieldPartner
from lending.protection import set_credit_limit

_QUIET = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
# One example is one HTTP request, and a failure names that request exactly; shrinking it
# would cost minutes per failing route, so it is left out (the classic sweep below gives the
# minimal cases).
_PHASES = (Phase.explicit, Phase.reuse, Phase.generate)
HOSTILE_API = settings(max_examples=15, deadline=None, suppress_health_check=_QUIET,
                       phases=_PHASES)
HOSTILE = settings(max_examples=8, deadline=None, suppress_health_check=_QUIET, phases=_PHASES)

SKIPPED_ENDPOINTS = {"static", "metrics"}
PRODUCT_CODE = "NEVER500"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# --- hostile values ----------------------------------------------------------------------

NASTY_STRINGS = [
    "", " ", "0", "-1", "--1", "+1", "1.5", "1e3", "1_000", "0x10", "NaN", "Infinity",
    "9" * 25, "9" * 5000, "-" + "9" * 30, "²", "١٢٣", "０", "Ⅻ", "../", "../../etc/passwd",
    "..%2F..%2F", "\x00", "a\x00b", "%00", "null", "true", "[]", "{}", "<script>", "' OR 1=1 --",
    "\u202e", "😀", "ü", "\r\n", "\t", "*", "**", "1*2*500", "a" * 4_000, "2026-02-30",
    "9999-12-31", "0000-00-00", "+254711000101", "0711000101", "254711000101", "+1",
    "+2547" + "1" * 40,
]
hostile_text = st.one_of(
    st.sampled_from(NASTY_STRINGS),
    st.text(max_size=40),
    st.integers().map(str),
    st.integers(min_value=2**63 - 2, max_value=10**40).map(str),
)
BEYOND_64_BITS = [str(2**63), str(10**30), "9" * 5000]
huge_ints = st.sampled_from([0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30,
                             10**400])
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), huge_ints,
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.1, 100.5, 1e300, -0.0]),
    hostile_text,
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=12,
)
raw_bodies = st.one_of(
    st.binary(max_size=120),
    st.sampled_from([b"\xff\xfe\xfd", b"{", b'{"a":', b"[]", b"null", b"\x00" * 16,
                     b"a=%ff%fe&b=\xff\xfe", b"text=\xc3\x28&phoneNumber=%C0%AF",
                     b'{"amount": 1e400}', b'{"amount": NaN}', b"[" * 500 + b"]" * 500,
                     b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n",
                     b"\xef\xbb\xbf{}", "{\"a\": \"\u00fc\"}".encode("utf-16")]),
)
content_types = st.sampled_from([
    None, "application/json", "application/x-www-form-urlencoded", "multipart/form-data",
    "multipart/form-data; boundary=x", "text/plain", "application/xml",
    "application/json; charset=utf-16", "application/octet-stream", "*/*", "garbage",
])


def query_strings(keys: list[str]) -> st.SearchStrategy[bytes]:
    """A query string with the route's own parameters (and others) set to odd values."""
    names = st.sampled_from(keys) | hostile_text if keys else hostile_text
    pairs = st.lists(st.tuples(names, hostile_text), max_size=5)
    encoded = pairs.map(lambda ps: "&".join(f"{quote(k, safe='')}={quote(v, safe='')}"
                                            for k, v in ps).encode())
    raw = st.sampled_from([b"a=%ff%fe", b"amount=%00", b"=&&==", b"%", b"term=1&term=2",
                           b"amount=\xff", b"limit=1e2&offset=-0"])
    return st.one_of(encoded, raw)


# --- what one request is -------------------------------------------------------------------


@dataclass
class Call:
    """One request, described so that a failure names exactly what was sent."""

    rule: str
    method: str
    path: str
    query: bytes = b""
    body: Any = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    who: str = "anonymous"

    def send(self, client: Any) -> Any:
        return client.open(self.path, method=self.method,
                           query_string=self.query.decode("latin-1"),
                           data=self.body, content_type=self.content_type,
                           headers=self.headers)

    def __str__(self) -> str:
        body = repr(self.body)
        if len(body) > 300:
            body = body[:300] + f"... ({len(body)} chars)"
        shown = {k: ("<" + self.who + " key>" if k == "Authorization" else v)
                 for k, v in self.headers.items()}
        query = "?" + self.query.decode("latin-1") if self.query else ""
        return (f"{self.method} {self.path}{query}"
                f" [rule {self.rule}] as {self.who} content_type={self.content_type!r}"
                f" headers={shown} body={body}")


def segment_values(converter: str, known: list[str]) -> st.SearchStrategy[str]:
    """Values for one path segment, already percent-encoded."""
    if converter == "IntegerConverter":
        ints = st.one_of(st.sampled_from(known) if known else st.just("1"),
                         st.integers(min_value=0, max_value=12).map(str),
                         st.sampled_from(BEYOND_64_BITS),
                         st.sampled_from(["١٢", "-1", "1.5", "", "0x1", "../", "2147483648"]))
        return ints.map(lambda v: quote(v, safe=""))
    plain = st.one_of(st.sampled_from(known), hostile_text) if known else hostile_text
    safe = "/" if converter == "PathConverter" else ""
    return plain.map(lambda v: quote(v, safe=safe))


def build_path(rule: Rule, draw: Callable[..., Any],
               known: dict[str, list[str]]) -> str:
    """The rule with each `<converter:name>` replaced by a drawn value."""
    return fill_path(rule, lambda converter, name: draw(segment_values(converter,
                                                                      known.get(name, []))))


def fill_path(rule: Rule, value: Callable[[str, str], str]) -> str:
    """The rule with each `<converter:name>` replaced by value(converter class name, name)."""
    parts = []
    for is_dynamic, data in rule._trace:  # noqa: SLF001 - werkzeug's own parse of the rule
        if is_dynamic:
            data = value(type(rule._converters[data]).__name__, data)  # noqa: SLF001
        parts.append(data)
    path = "".join(parts)
    return path[path.index("|") + 1:] if "|" in path else path


def methods_for(rule: Rule) -> st.SearchStrategy[str]:
    """Mostly the rule's own methods; sometimes one it does not take."""
    own = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    return st.one_of(st.sampled_from(own), st.sampled_from(own), st.sampled_from(own),
                     st.sampled_from(METHODS))


def mutated(base: Any) -> st.SearchStrategy[Any]:
    """A provider payload with some leaves dropped or replaced by hostile values."""

    @st.composite
    def build(draw: Callable[..., Any]) -> Any:
        value = copy.deepcopy(base)

        def walk(node: Any) -> Any:
            if isinstance(node, dict):
                for key in list(node):
                    choice = draw(st.sampled_from(["keep", "keep", "keep", "drop", "replace",
                                                   "walk"]))
                    if choice == "drop":
                        del node[key]
                    elif choice == "replace":
                        node[key] = draw(json_value)
                    elif choice == "walk":
                        node[key] = walk(node[key])
                if draw(st.booleans()):
                    node[draw(hostile_text)] = draw(json_value)
                return node
            if isinstance(node, list):
                return [walk(item) for item in node]
            return draw(json_value) if draw(st.booleans()) else node

        return walk(value) if draw(st.booleans()) else draw(json_value)

    return build()


def form_from(base: dict[str, Any]) -> st.SearchStrategy[dict[str, str]]:
    """An Africa's Talking form post with fields missing, odd or added."""

    @st.composite
    def build(draw: Callable[..., Any]) -> dict[str, str]:
        form: dict[str, str] = {}
        for key, value in base.items():
            choice = draw(st.sampled_from(["keep", "keep", "drop", "replace"]))
            if choice == "keep":
                form[key] = str(value)
            elif choice == "replace":
                form[key] = draw(hostile_text)
        for _ in range(draw(st.integers(0, 2))):
            form[draw(hostile_text)] = draw(hostile_text)
        return form

    return build()


def bodies(json_bases: list[Any], form_bases: list[dict[str, Any]]) -> st.SearchStrategy[
        tuple[Any, str | None]]:
    """A body and its content type: none, JSON (shaped or not), a form, or raw bytes."""
    shaped_json = (st.sampled_from(json_bases).flatmap(mutated) if json_bases
                   else json_value)
    as_json = st.tuples(
        st.one_of(shaped_json, json_value).map(lambda v: json.dumps(v, allow_nan=True)),
        st.sampled_from(["application/json", "application/json", "text/plain", None]))
    forms = (st.sampled_from(form_bases).flatmap(form_from) if form_bases
             else st.dictionaries(hostile_text, hostile_text, max_size=5))
    as_form = st.tuples(forms, st.sampled_from([None, "multipart/form-data"]))
    return st.one_of(st.just((None, None)), as_json, as_form, st.tuples(raw_bodies, content_types))


# --- the world the requests land in ---------------------------------------------------------


@dataclass
class World:
    """A product, a partner with a pending loan, a lender, and a key for each role."""

    product: str
    partner_id: int
    loan_id: int
    lender_id: int
    keys: dict[str, str]

    def known(self) -> dict[str, list[str]]:
        ids = [str(self.loan_id), str(self.lender_id), str(self.partner_id)]
        return {"code": [self.product, self.product.lower()], "loan_id": ids,
                "lender_id": ids, "decision": ["approve", "reject"]}


@pytest.fixture
def world(client, session, api_token, clock) -> World:
    create_product(session, {
        "code": PRODUCT_CODE, "name": "Never 500", "min_amount": 50_000,
        "max_amount": 5_000_000, "terms": [4, 8], "frequency": "weekly",
        "interest_method": "declining", "interest_rate": "36", "upfront_fee_percent": "1.5"})
    partner = FieldPartner(name="Hostile Input Partner", region="Nakuru", risk_rating=3)
    session.add(partner)
    session.flush()
    borrower = members.register_member(
        session, phone="+254733900001", first_name="Wanjiku", national_id="N500-1",
        pin="4821", language="en", consent=True)
    members.verify_member(session, borrower.id, partner.id, "officer")
    set_credit_limit(session, borrower.id, 1_000_000, actor="test", reason="setup")
    loan = apply_for_loan(session, member_id=borrower.id, product_code=PRODUCT_CODE,
                          amount=100_000, term=4, purpose="a kiosk",
                          idempotency_key="never500-1")
    session.commit()
    operator = api_token("operator")
    lender = client.post("/api/v1/lenders", json={
        "phone": "+254733900002", "first_name": "Otieno", "national_id": "N500-2",
        "pin": "4821", "consent": True}, headers={"Authorization": f"Bearer {operator}"})
    assert lender.status_code == 201, lender.json
    lender_id = lender.json["id"]
    keys = {
        "operator": operator,
        "field_partner": api_token("field_partner", owner_id=partner.id),
        "lender": api_token("lender", owner_id=lender_id),
        "lender of another": api_token("lender", owner_id=lender_id + 1000),
    }
    return World(PRODUCT_CODE, partner.id, loan.id, lender_id, keys)


NO_WORLD = World(product=PRODUCT_CODE, partner_id=1, loan_id=1, lender_id=2, keys={})


def auth_headers(world: World) -> st.SearchStrategy[tuple[str, dict[str, str]]]:
    """No key, a broken one, or a real key of each role."""
    broken = st.sampled_from(["Bearer", "Bearer ", "Bearer mk_", "Bearer mk_.", "Bearer mk_a.b",
                              "bearer mk_" + "a" * 5000 + ".b", "Basic dXNlcjpwYXNz",
                              "Bearer mk_%00.x", "Token abc", "Bearer  mk_x.y  z"])
    real = st.sampled_from(sorted(world.keys))
    as_role = real.map(lambda role: (role, {"Authorization": f"Bearer {world.keys[role]}"}))
    return st.one_of(
        st.just(("anonymous", {})),
        broken.map(lambda h: ("broken", {"Authorization": h})),
        as_role, as_role, as_role,
    )


@pytest.fixture
def fixtures(fixture_payload) -> dict[str, Any]:
    names = ["at_sms_delivery_failed.json", "at_sms_delivery_success.json",
             "at_sms_inbound.json", "at_sms_opt_out.json", "at_ussd_event_incomplete.json",
             "at_ussd_request_first.json", "at_ussd_request_later.json",
             "daraja_b2c_result_failure.json", "daraja_b2c_result_success.json",
             "daraja_b2c_timeout.json", "daraja_c2b_confirmation.json",
             "daraja_c2b_validation.json", "daraja_reversal_result.json",
             "daraja_stk_callback_cancelled.json", "daraja_stk_callback_success.json",
             "daraja_stk_callback_unreachable.json"]
    return {name.removesuffix(".json"): fixture_payload(name) for name in names}


# --- one request per route, by who calls it -------------------------------------------------


def api_call(rule: Rule, draw: Callable[..., Any], ctx: Context) -> Call:
    """Any key (or none), the documented parameters bent, bodies of every shape."""
    operation = _operation(ctx.spec, rule)
    keys = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
    properties = ((operation.get("requestBody") or {}).get("content", {})
                   .get("application/json", {}).get("schema", {}).get("properties", {}))
    who, headers = draw(auth_headers(ctx.world), label="key")
    if draw(st.booleans()):
        headers = {**headers, "Idempotency-Key": draw(hostile_text.filter(
            lambda v: v.isascii() and "\n" not in v and "\r" not in v), label="Idempotency-Key")}
    body, content_type = draw(bodies([{name: None for name in properties},
                                      _typical_body(rule.rule)], []), label="body")
    return Call(rule=rule.rule, method=draw(methods_for(rule), label="method"),
                path=build_path(rule, draw, ctx.world.known()),
                query=draw(query_strings(keys), label="query"), body=body,
                content_type=content_type, headers=headers, who=who)


def _operation(spec: dict[str, Any], rule: Rule) -> dict[str, Any]:
    """The OpenAPI operation documenting this rule (empty when undocumented)."""
    path = rule.rule.removeprefix("/api/v1")
    for name in rule.arguments:
        path = path.replace(f"<int:{name}>", "{" + name + "}").replace(f"<{name}>",
                                                                      "{" + name + "}")
    item = spec.get("paths", {}).get(path, {})
    methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    return next((item[m.lower()] for m in methods if m.lower() in item), {})


def _typical_body(rule: str) -> dict[str, Any]:
    """A well-formed body for the route, for hypothesis to bend a field at a time."""
    if rule.endswith("/products"):
        return {"code": "P" + uuid.uuid4().hex[:8], "name": "Odd", "currency": "KES",
                "min_amount": 10_000, "max_amount": 1_000_000, "terms": [1, 4, 12],
                "frequency": "monthly", "interest_method": "flat", "interest_rate": "24",
                "upfront_fee_percent": "0", "upfront_fee_flat": 0}
    if rule.endswith(("/deposits", "/withdrawals")):
        return {"amount": 10_000}
    if rule.endswith("/fund"):
        return {"loan_id": 1, "shares": 1}
    if rule.endswith("/autolend"):
        return {"enabled": True, "sectors": ["retail"], "regions": [], "women_only": False,
                "max_per_loan": 50_000, "max_risk_rating": 3, "reserve": 0}
    if rule.endswith("/resolve"):
        return {"action": "assign", "reason": "matches the loan", "loan_id": 1}
    if rule.endswith("/lenders"):
        return {"phone": "+254733900009", "first_name": "Achieng", "national_id": "N500-9",
                "pin": "4821", "consent": True, "language": "sw", "gender": "f"}
    return {"reason": "not enough information"}


MPESA_SHAPES = {
    "stk": ["daraja_stk_callback_success", "daraja_stk_callback_cancelled",
            "daraja_stk_callback_unreachable"],
    "c2b/validation": ["daraja_c2b_validation"],
    "c2b/confirmation": ["daraja_c2b_confirmation"],
    "b2c/result": ["daraja_b2c_result_success", "daraja_b2c_result_failure"],
    "b2c/timeout": ["daraja_b2c_timeout"],
    "status/result": ["daraja_b2c_result_success"],
    "status/timeout": ["daraja_b2c_timeout"],
    "reversal/result": ["daraja_reversal_result"],
    "reversal/timeout": ["daraja_b2c_timeout"],
}


def mpesa_call(rule: Rule, draw: Callable[..., Any], ctx: Context) -> Call:
    """The real callback token (or a wrong one), Daraja payloads bent out of shape."""
    callback = ctx.variant or "stk"
    real = ctx.app.extensions["mkopo"].settings.callback_token
    token = draw(st.sampled_from([real, real, real, "wrong-token", real + "x", real.upper()]),
                 label="token")
    tail = draw(st.sampled_from([callback, callback, callback + "/", callback.upper(),
                                 "../" + callback, callback + "/../stk"]), label="callback")
    body, content_type = draw(bodies([ctx.fixtures[s] for s in MPESA_SHAPES[callback]], []),
                              label="body")
    return Call(rule=rule.rule, method=draw(methods_for(rule), label="method"),
                path=f"/mpesa/{quote(token, safe='')}/{tail}",
                query=draw(query_strings([]), label="query"), body=body,
                content_type=content_type, who="M-Pesa" if token == real else "wrong token")


AT_SHAPES = {
    "/ussd": ["at_ussd_request_first", "at_ussd_request_later"],
    "/ussd/events": ["at_ussd_event_incomplete"],
    "/sms/inbound": ["at_sms_inbound"],
    "/sms/delivery-reports": ["at_sms_delivery_failed", "at_sms_delivery_success"],
    "/sms/opt-out": ["at_sms_opt_out"],
}


def at_call(rule: Rule, draw: Callable[..., Any], ctx: Context) -> Call:
    """Africa's Talking form posts with fields missing, odd or added."""
    shapes = [ctx.fixtures[s] for s in AT_SHAPES.get(rule.rule, [])]
    body, content_type = draw(bodies([], shapes), label="body")
    return Call(rule=rule.rule, method=draw(methods_for(rule), label="method"),
                path=build_path(rule, draw, {}), query=draw(query_strings([]), label="query"),
                body=body, content_type=content_type, who="Africa's Talking")


def console_call(rule: Rule, draw: Callable[..., Any], ctx: Context) -> Call:
    """An anonymous browser: no session, any form."""
    form = {"email": "", "password": "", "next": "", "reason": "", "action": "", "q": ""}
    body, content_type = draw(bodies([], [form]), label="body")
    return Call(rule=rule.rule, method=draw(methods_for(rule), label="method"),
                path=build_path(rule, draw, ctx.world.known()),
                query=draw(query_strings(["next", "status", "type", "q", "page", "subject",
                                          "actor"]), label="query"),
                body=body, content_type=content_type)


def other_call(rule: Rule, draw: Callable[..., Any], ctx: Context) -> Call:
    """The simulator, health checks and any route added later."""
    shapes = [{"phone": "+254733900001", "account": "L1", "amount": 10_000, "pin": "1234"}]
    body, content_type = draw(bodies(shapes, []), label="body")
    return Call(rule=rule.rule, method=draw(methods_for(rule), label="method"),
                path=build_path(rule, draw, ctx.world.known()),
                query=draw(query_strings(["phone", "limit"]), label="query"), body=body,
                content_type=content_type)


GROUPS: list[tuple[tuple[str, ...], Callable[[Rule, Callable[..., Any], Context], Call]]] = [
    (("/api/",), api_call),
    (("/mpesa/",), mpesa_call),
    (("/ussd", "/sms/"), at_call),
    (("/ops/",), console_call),
]


def call_for(rule: Rule) -> Callable[[Rule, Callable[..., Any], Context], Call]:
    return next((make for prefixes, make in GROUPS if rule.rule.startswith(prefixes)),
                other_call)


# --- what counts as a wrong answer besides a 5xx --------------------------------------------


def wrong_answer(app: Any, call: Call, response: Any) -> str | None:
    """/ussd answers 200 CON/END or 400; the console sends an anonymous caller to login."""
    endpoint = routes_to(app, call)
    if endpoint == "ussd.answer" and response.status_code != 400:
        text = response.get_data(as_text=True)
        if response.status_code != 200 or not text.startswith(("CON ", "END ")):
            return f"/ussd answered {response.status_code} {text[:80]!r}"
    if (endpoint or "").startswith("ops.") and endpoint not in ("ops.login", "ops.static"):
        if response.status_code == 400 and "NUL" in response.get_data(as_text=True):
            return None  # refused as malformed before anyone is asked to log in: also right
        if response.status_code != 302 or "/ops/login" not in response.headers.get(
                "Location", ""):
            return f"anonymous {endpoint} answered {response.status_code}, not a login redirect"
    return None


def routes_to(app: Any, call: Call) -> str | None:
    """The endpoint this call reaches, or None when routing itself refuses it."""
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(unquote(call.path), method=call.method)
    except Exception:  # noqa: BLE001 - 404, 405, and redirects for strict slashes
        return None
    return str(endpoint)


# --- the routes, and the tests ------------------------------------------------------------------


def _routes_of_a_fresh_app() -> list[tuple[str, str]]:
    """(rule, variant) for every route of an app built by create_app; nothing is started."""
    previous = runtime_module._current  # noqa: SLF001 - conftest's runtime is set later
    try:
        app = create_app({"MKOPO_ENV": "test", "instance_path": Path(tempfile.mkdtemp()),
                          "secret_key": "collect", "callback_token": "collect",
                          "pin_pepper": "collect"})
    finally:
        runtime_module._current = previous  # noqa: SLF001
    targets = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, sorted(r.methods or []))):
        if rule.endpoint in SKIPPED_ENDPOINTS:
            continue
        variants = list(MPESA_SHAPES) if rule.rule.startswith("/mpesa/") else [""]
        targets.extend((_rule_id(rule), variant) for variant in variants)
    return targets


def _rule_id(rule: Rule) -> str:
    methods = ",".join(sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}))
    return f"{methods} {rule.rule}"


ROUTES = _routes_of_a_fresh_app()


@dataclass
class Context:
    """What a request builder may draw on: the app, its seeded world, provider samples."""

    app: Any
    world: World
    fixtures: dict[str, Any]
    spec: dict[str, Any]
    variant: str = ""


def _is_api(route: str) -> bool:
    return route.split()[-1].startswith("/api/")


API_ROUTES = [r for r in ROUTES if _is_api(r[0])]
OTHER_ROUTES = [r for r in ROUTES if not _is_api(r[0])]


def _ids(routes: list[tuple[str, str]]) -> list[str]:
    return [f"{route} {variant}".strip() for route, variant in routes]


def _context(request: Any, app: Any, client: Any, fixtures: dict[str, Any], route: str,
             variant: str) -> tuple[Rule, Context]:
    rule = next(r for r in app.url_map.iter_rules() if _rule_id(r) == route)
    # Seeding costs a few hundred milliseconds: only the API needs keys and real records.
    world = request.getfixturevalue("world") if _is_api(route) else NO_WORLD
    return rule, Context(app, world, fixtures, client.get("/api/v1/openapi.json").json, variant)


def _assert_answered(app: Any, client: Any, call: Call) -> None:
    if call.rule.startswith("/ops/"):
        with client.session_transaction() as cookie:
            cookie.clear()
    response = call.send(client)
    assert response.status_code < 500, f"{response.status_code} <- {call}\n{response.data[:300]!r}"
    problem = wrong_answer(app, call, response)
    assert problem is None, f"{problem} <- {call}"


@pytest.mark.parametrize(("route", "variant"), API_ROUTES, ids=_ids(API_ROUTES))
@HOSTILE_API
@given(data=st.data())
def test_no_api_request_gets_a_5xx(request, app, client, fixtures, route, variant,
                                   data) -> None:
    rule, ctx = _context(request, app, client, fixtures, route, variant)
    _assert_answered(app, client, call_for(rule)(rule, data.draw, ctx))


@pytest.mark.parametrize(("route", "variant"), OTHER_ROUTES, ids=_ids(OTHER_ROUTES))
@HOSTILE
@given(data=st.data())
def test_no_provider_console_or_simulator_request_gets_a_5xx(request, app, client, fixtures,
                                                             route, variant, data) -> None:
    rule, ctx = _context(request, app, client, fixtures, route, variant)
    _assert_answered(app, client, call_for(rule)(rule, data.draw, ctx))


# --- the classics, sent to every route every time (no luck involved) ------------------------

CLASSIC_BODIES: list[tuple[Any, str | None]] = [
    ("true", "application/json"), ("[]", "application/json"), ('"x"', "application/json"),
    ("1e400", "application/json"), ('{"amount": NaN}', "application/json"),
    ('{"amount": 100.5, "loan_id": 1, "shares": 1.5}', "application/json"),
    (b"\xff\xfe{", "application/json"), (b"a=%ff&text=\xff\x00", None),
    (b"--x\r\n", "multipart/form-data; boundary=x"),
    ('{"phone": "+254711000101", "account": "L1", "amount": 150, "loan_id": 1, "shares": 1}',
     "application/json"),
    ('{"phone": "+254711000101", "account": "L1", "amount": 1000000000000000000000000000000}',
     "application/json"),
]


CLASSIC_QUERIES = [
    f"{name}={value}&amount=100000&term=4"
    for name in ("amount", "term", "limit", "offset", "min_amount", "max_amount", "start")
    for value in ("--1", "%C2%B2", "9" * 5000)
]
"""Numbers as `str.isdigit` sees them but `int` does not: '--1', '²', more than 4300 digits."""


def classic_calls(rule: Rule, ctx: Context) -> list[Call]:
    """Ids past 64 bits, odd numbers in queries, non-object JSON, float money, non-UTF-8."""
    own = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    who, headers = "anonymous", {}
    if rule.rule.startswith("/api/"):
        who, headers = "operator", {"Authorization": f"Bearer {ctx.world.keys['operator']}",
                                    "Idempotency-Key": "classic-1"}
    real = ctx.app.extensions["mkopo"].settings.callback_token
    known = ctx.world.known()
    paths = [fill_path(rule, lambda _converter, _name, v=huge: v) for huge in BEYOND_64_BITS]
    typical = fill_path(rule, lambda converter, name: (known.get(name) or ["1"])[0])
    if rule.rule.startswith("/mpesa/"):
        paths = typical = f"/mpesa/{real}/{ctx.variant}"
        paths = [typical]
    calls = [Call(rule.rule, method, path, b"", None, None, headers, who)
             for path in paths for method in own]
    calls += [Call(rule.rule, method, typical, query.encode(), None, None, headers, who)
              for query in CLASSIC_QUERIES for method in own if method == "GET"]
    calls += [Call(rule.rule, method, typical, b"limit=1e2&amount=" + BEYOND_64_BITS[0].encode(),
                   body, content_type, headers, who)
              for body, content_type in CLASSIC_BODIES for method in own if method != "GET"]
    return calls


@pytest.mark.parametrize(("route", "variant"), ROUTES, ids=_ids(ROUTES))
def test_classic_hostile_inputs_get_no_5xx(request, app, client, fixtures, route,
                                           variant) -> None:
    rule, ctx = _context(request, app, client, fixtures, route, variant)
    failures = []
    for call in classic_calls(rule, ctx):
        try:
            _assert_answered(app, client, call)
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0])
    assert not failures, "\n".join(failures)


def test_every_route_of_the_app_is_tried(app) -> None:
    live = {_rule_id(r) for r in app.url_map.iter_rules() if r.endpoint not in SKIPPED_ENDPOINTS}
    assert live == {route for route, _ in ROUTES}

