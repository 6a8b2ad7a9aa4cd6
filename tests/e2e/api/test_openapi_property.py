"""Property-based tests of the whole API against its own OpenAPI document (#13.13).

Schemathesis generates requests for every operation the document describes, valid and
invalid alike, and sends them to the app in-process with a key of a role the operation
allows. Each answer must not be a 5xx, must use a status the document lists for the
operation, and an error must have the documented shape. Derandomised: the same examples
every run, so a failure is reproducible and CI time stays flat.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from lending import members
from lending.models import FieldPartner

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance,
          # Data the document calls valid is not refused with a 400: the document states
          # the limits the server enforces.
          positive_data_acceptance]

SEMANTIC_RULES = {
    # Operations whose server also checks what OpenAPI 3.0 cannot state; schema-valid data
    # may be refused there with a 400 naming the field, so `positive_data_acceptance` is
    # not asked of them (every other check is).
    "POST /surveys": "a survey definition: questions, answer scales, skip rules (impact)",
    "POST /products": "min_amount <= max_amount, a rate as a decimal string in range",
    "POST /lenders": "either member_id or a full signup (phone, PIN, consent: true)",
    "POST /savings/chamas": "the members must exist, be active and be the caller's",
    "POST /reconciliation/breaks/{break_id}/resolve": "loan_id or loan_reference, not both",
    "POST /expenses": "description and key printable (no control or format characters)",
    "GET /products/{code}/quote": "amount and term within the product's own bounds",
    "POST /members/{member_id}/reject": "a reason PostgreSQL can store (the NUL refusal is "
                                        "global; its body schema does not yet say so)",
}
"""`negative_data_rejection` is not asked either: the server ignores unknown query
parameters and reads an empty `?offset=` as the default, which is lenient, not wrong."""
EXAMPLES_PER_OPERATION = 25
PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None,
    phases=[Phase.explicit, Phase.generate], print_blob=False,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def loans_world(session, clock) -> dict[str, int]:
    """A field partner and a lender for the keys of those roles to belong to."""
    partner = FieldPartner(name="Partner OpenAPI", region="Nakuru", risk_rating=3)
    session.add(partner)
    lender = members.register_member(session, phone="+254733000999", first_name="Wanjiru",
                                     national_id="OAS1", pin="4821", language="en",
                                     consent=True)
    members.become_lender(session, lender.id)
    session.commit()
    return {"partner_id": partner.id, "lender_id": lender.id}


def takes_input(operation: Any) -> bool:
    raw = operation.definition.raw
    return bool(raw.get("parameters") or raw.get("requestBody"))


def roles_of(operation: Any) -> list[str]:
    """The roles the document names ("Roles: a, b."); none for a public operation."""
    description = operation.definition.raw.get("description", "")
    if not description.startswith("Roles: "):
        return ["public"]
    return [role.strip() for role in description.removeprefix("Roles: ").rstrip(".").split(",")]


def holds_to_the_document(operation: Any, headers: dict[str, str],
                          mode: GenerationMode) -> Any:
    """The property for one operation, as a Hypothesis test to call."""
    checks = [check for check in CHECKS if not (
        check is positive_data_acceptance and operation.label in SEMANTIC_RULES)]

    @PROPERTY_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def holds(case: Any) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=checks, headers=headers)

    return holds


def test_every_operation_holds_to_the_openapi_document(app, api_token, loans_world) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    tokens = {"operator": api_token("operator"),
              "field_partner": api_token("field_partner", loans_world["partner_id"]),
              "lender": api_token("lender", loans_world["lender_id"]), "public": ""}
    failures: dict[str, str] = {}
    operations = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        role = "operator" if "operator" in roles_of(operation) else roles_of(operation)[0]
        headers = {"Authorization": f"Bearer {tokens[role]}"} if tokens[role] else {}

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                holds_to_the_document(operation, headers, mode)()
            except BaseExceptionGroup as group:  # schemathesis's FailureGroup
                failures[f"{operation.label} ({mode.value})"] = str(group)[:3000]
            except Unsatisfiable:
                # No parameter and no body: there is nothing to make invalid.
                assert mode == GenerationMode.NEGATIVE and not takes_input(operation), (
                    operation.label)
    elapsed = time.monotonic() - started
    print(f"schemathesis: {operations} operations x {EXAMPLES_PER_OPERATION} examples "
          f"in {elapsed:.1f} s")
    assert operations >= 40
    assert failures == {}, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
