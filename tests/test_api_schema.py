"""schemathesis against the API's own OpenAPI schema, through the WSGI app with valid tokens:
whatever it sends, no answer is a 5xx, and every answer (status, content type, body, headers)
is one the schema declares. Bounded (30 examples per operation) so that it runs in `make test`.
"""

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
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
from tests.api_helpers import (
    api_client_for,
    token,
)
from tests.factories import PatientFactory, UserFactory, make_team

pytestmark = [pytest.mark.schema, pytest.mark.django_db]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
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
