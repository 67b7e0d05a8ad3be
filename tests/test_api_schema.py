"""schemathesis against the API's own OpenAPI schema, through the WSGI app with valid tokens:
whatever it sends, no answer is a 5xx, and every answer (status, content type, body, headers)
is one the schema declares; and a request the schema calls valid is never refused as malformed
(the schema states every format the API enforces). Bounded (30 examples per operation) so that
it runs in `make test`.
"""

import nhs_number
import orjson
import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from access import services
from access.models import Role, Team
from lcr.wsgi import application
from records.identifiers import NHS_NUMBER_SYSTEM as NHS_NUMBER
from tests.api_helpers import (
    api_client_for,
    token,
)
from tests.factories import PatientFactory, UserFactory, make_team

pytestmark = [pytest.mark.schema, pytest.mark.django_db]


def _with_check_digit(first_nine: str) -> str:
    """These nine digits and their modulus 11 check digit ("10" where none fits: no number)."""
    check = 11 - sum(int(digit) * (10 - place) for place, digit in enumerate(first_nine)) % 11
    return first_nine + str(check % 11)


# The schema's own formats (partner_api/schema.py, care_record/api.py, access/api.py): what no
# pattern can state (the check digit; a Scottish CHI number begins with a date) the format says,
# and valid numbers are made.
nhs_numbers = (
    st.text("0123456789", min_size=9, max_size=9).map(_with_check_digit).filter(nhs_number.is_valid)
)
schemathesis.openapi.format("nhs-number", nhs_numbers)
schemathesis.openapi.format(
    "nhs-number-identifier", st.one_of(nhs_numbers, nhs_numbers.map(f"{NHS_NUMBER}|".__add__))
)

# What a well-formed request may still be refused for with a 400: facts the schema cannot know
# (no patient has that NHS number, no team that id, the relationship breaks a rule of the service).
REFUSALS_OF_FACT = {"unknown-patient", "unknown-team", "relationship-refused"}


@schemathesis.check
def schema_valid_requests_are_not_refused_as_malformed(ctx, response, case) -> None:
    """A request made to the schema (schemathesis's positive mode) gets no 400 for its form."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if response.status_code == 400 and _error_code(response) not in REFUSALS_OF_FACT:
        raise AssertionError(f"a schema-valid request was refused: {response.text[:500]}")


def _error_code(response) -> str:
    """The stable code of an API error: a problem's `code`, an OperationOutcome's coding."""
    body = orjson.loads(response.content)
    if body.get("resourceType") == "OperationOutcome":
        return body["issue"][0]["details"]["coding"][0]["code"]
    return body.get("code", "")


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    schema_valid_requests_are_not_refused_as_malformed,
]


# Read once when the tests are collected (the schema needs no database).
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)


@pytest.fixture
def requests_keep_the_test_transaction():
    """As Django's test client does: the test's transaction must outlive each request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(client, db) -> dict[str, str]:
    """A valid token for each scope, from a client in the role that scope serves."""
    cache.clear()
    team = make_team("Partner team", Team.Kind.COMMUNITY_TEAM, ods_code="P1")
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="R1")
    patient = PatientFactory()
    services.start_relationship(
        patient=patient, team=team, kind="referral", reason="r",
        actor=UserFactory(username="setup-admin"),
    )  # fmt: skip
    found = {}
    for scope, role, where in (
        ("patient.read", Role.GP, team),
        ("relationship.write", Role.ADMINISTRATOR, office),
        ("audit.read", Role.PRIVACY_OFFICER, office),
    ):
        api, secret = api_client_for(where, role, [scope], rate="100000/min")
        found[scope] = token(client, api, secret)
    return found


def scope_of(path: str) -> str:
    if path.startswith("/api/v1/relationships"):
        return "relationship.write"
    if path.startswith("/api/v1/fhir/AuditEvent"):
        return "audit.read"
    return "patient.read"


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_within_its_schema_and_never_with_a_5xx(
    case, tokens, requests_keep_the_test_transaction
):
    headers = {"Authorization": f"Bearer {tokens[scope_of(case.path)]}"}
    case.call_and_validate(headers=headers, checks=CHECKS)


def test_the_schema_states_the_formats_the_api_enforces(client):
    document = orjson.loads(
        client.get("/api/v1/schema/", headers={"accept": "application/json"}).content
    )

    def parameters(path: str, method: str = "get") -> dict:
        operation = document["paths"][path][method]
        return {item["name"]: item["schema"] for item in operation["parameters"]}

    search = parameters("/api/v1/fhir/Patient")
    assert search["identifier"]["pattern"] == r"^(https://fhir\.nhs\.uk/Id/nhs-number\|)?[0-9]{10}$"
    assert search["X-End-User"] == {"type": "string", "maxLength": 200, "pattern": "^[ -~]*$"}
    for path in ("/api/v1/fhir/Patient/{patient_id}/$summary",
                 "/api/v1/fhir/Patient/{patient_id}/record/{category}"):  # fmt: skip
        assert parameters(path)["patient_id"]["minimum"] == 1
        assert parameters(path)["patient_id"]["maximum"] == 2**63 - 1
    assert parameters("/api/v1/fhir/AuditEvent")["patient"]["maximum"] == 2**63 - 1
    body = document["components"]["schemas"]["RelationshipInRequest"]["properties"]
    assert body["nhs_number"]["pattern"] == "^[0-9]{10}$"
    assert body["nhs_number"]["format"] == "nhs-number"
