"""The partner API obeys the portal's rules: OAuth2 scopes, the care relationship (unrelated looks
like missing: 404), one access event per read naming client and end user, rate limits, no-store.
"""

import base64

import pytest
from django.core.cache import cache

from access import services
from access.models import Role, Team
from audit.models import AccessEvent, SearchEvent
from records.identifiers import NHS_NUMBER_SYSTEM as NHS_NUMBER
from tests.api_helpers import (
    api_client_for,
    bearer,
    outcome_codes,
    token,
    valid_fhir,
)
from tests.factories import LinkFactory, PatientFactory, UserFactory, make_team

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db):
    admin = UserFactory(username="setup-admin")
    team = make_team("Hackney practice", Team.Kind.GP_PRACTICE, ods_code="F84001")
    related, unrelated = PatientFactory(), PatientFactory()
    services.start_relationship(
        patient=related, team=team, kind="registered_gp", reason="registered", actor=admin
    )
    return team, related, unrelated


@pytest.fixture
def epr(world, client):
    """The practice's EPR: a GP-role client with patient.read, and a token."""
    team, _, _ = world
    api, secret = api_client_for(team, Role.GP, ["patient.read"])
    return api, token(client, api, secret)


def summary_url(patient) -> str:
    return f"/api/v1/fhir/Patient/{patient.pk}/$summary"


def test_a_token_carries_only_the_scopes_the_client_holds(client, world):
    team, _, _ = world
    api, secret = api_client_for(team, Role.GP, ["patient.read"])
    basic = base64.b64encode(f"{api.application.client_id}:{secret}".encode()).decode()
    asked_more = client.post(
        "/api/oauth/token/",
        {"grant_type": "client_credentials", "scope": "patient.read relationship.write"},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert asked_more.status_code == 400
    assert asked_more.json()["error"] == "invalid_scope"
    wrong_secret = client.post(
        "/api/oauth/token/",
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION="Basic "
        + base64.b64encode(f"{api.application.client_id}:nope".encode()).decode(),
    )
    assert wrong_secret.status_code == 401
    default = client.post(
        "/api/oauth/token/",
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert default.json()["scope"] == "patient.read"


def test_a_client_without_the_scope_gets_403(client, world):
    team, related, _ = world
    api, secret = api_client_for(team, Role.GP, ["audit.read"])
    response = client.get(summary_url(related), **bearer(token(client, api, secret)))
    assert response.status_code == 403
    body = valid_fhir(response.json())
    assert outcome_codes(body) == ["insufficient-scope"]
    assert not AccessEvent.objects.exists()


def test_a_client_whose_team_has_no_relationship_gets_404_like_a_missing_patient(
    client, world, epr
):
    _, _, unrelated = world
    _, access_token = epr
    headers = bearer(access_token)
    refused = client.get(summary_url(unrelated), **headers)
    missing = client.get(f"/api/v1/fhir/Patient/{unrelated.pk + 999}/$summary", **headers)
    assert refused.status_code == missing.status_code == 404
    assert outcome_codes(valid_fhir(refused.json())) == ["not-found"]
    assert unrelated.nhs_number not in refused.content.decode()
    assert not AccessEvent.objects.exists()


def test_a_valid_read_leaves_exactly_one_access_event_naming_client_and_end_user(
    client, world, epr
):
    _, related, _ = world
    api, access_token = epr
    response = client.get(summary_url(related), **bearer(access_token, end_user="dr.jones@F84001"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    assert response["Cache-Control"] == "no-store"
    bundle = valid_fhir(response.json())
    assert bundle["entry"][0]["resource"]["identifier"][0] == {
        "system": NHS_NUMBER,
        "value": related.nhs_number,
    }
    event = AccessEvent.objects.get()
    assert event.client_id == api.application.client_id
    assert event.end_user == "dr.jones@F84001"
    assert event.channel == "api"
    assert event.patient == related
    assert event.user == api.service_user
    assert event.basis == "relationship"


def test_an_end_user_header_that_is_not_printable_is_refused_and_nothing_is_read(
    client, world, epr
):
    _, related, _ = world
    _, access_token = epr
    response = client.get(summary_url(related), **bearer(access_token, end_user="a\x01b"))
    assert response.status_code == 400
    assert outcome_codes(valid_fhir(response.json())) == ["invalid-end-user"]
    assert not AccessEvent.objects.exists()


def test_a_client_over_its_rate_gets_429_with_retry_after(client, world):
    team, related, _ = world
    api, secret = api_client_for(team, Role.GP, ["patient.read"], rate="3/min")
    headers = bearer(token(client, api, secret))
    answers = [client.get(summary_url(related), **headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 0 < int(answers[-1]["Retry-After"]) <= 60
    assert outcome_codes(valid_fhir(answers[-1].json())) == ["throttled"]
    assert AccessEvent.objects.count() == 3


def test_no_token_or_a_bad_one_gets_401_with_a_bearer_challenge(client, world):
    _, related, _ = world
    for headers in ({}, bearer("not-a-token")):
        response = client.get(summary_url(related), **headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert outcome_codes(valid_fhir(response.json())) == ["unauthenticated"]


def test_a_switched_off_client_is_refused_even_with_a_live_token(client, world, epr):
    _, related, _ = world
    api, access_token = epr
    api.active = False
    api.save()
    assert client.get(summary_url(related), **bearer(access_token)).status_code == 401


def test_search_by_nhs_number_finds_only_patients_the_team_may_see(client, world, epr):
    _, related, unrelated = world
    _, access_token = epr
    found = client.get(
        "/api/v1/fhir/Patient",
        {"identifier": f"{NHS_NUMBER}|{related.nhs_number}"},
        **bearer(access_token),
    )
    hidden = client.get(
        "/api/v1/fhir/Patient", {"identifier": unrelated.nhs_number}, **bearer(access_token)
    )
    assert found.status_code == hidden.status_code == 200
    assert [e["resource"]["id"] for e in valid_fhir(found.json())["entry"]] == [str(related.pk)]
    assert valid_fhir(hidden.json())["total"] == 0
    assert unrelated.family_name not in hidden.content.decode()
    searches = SearchEvent.objects.order_by("pk")
    assert [(s.query, s.found_id, s.channel) for s in searches] == [
        (related.nhs_number, related.pk, "api"),
        (unrelated.nhs_number, unrelated.pk, "api"),
    ]
    assert not AccessEvent.objects.exists()


@pytest.mark.parametrize(
    ("identifier", "code"),
    [
        ("", "invalid"),
        ("9990000019", "invalid-nhs-number"),
        ("https://example.org/mrn|123", "unsupported-identifier"),
    ],
)
def test_a_bad_identifier_gets_a_clear_operation_outcome(client, epr, identifier, code):
    _, access_token = epr
    headers = bearer(access_token)
    response = client.get("/api/v1/fhir/Patient", {"identifier": identifier}, **headers)
    assert response.status_code == 400
    assert outcome_codes(valid_fhir(response.json())) == [code]


def test_a_heading_the_role_may_not_see_is_withheld_and_said_so(client, world):
    team, related, _ = world
    api, secret = api_client_for(team, Role.SOCIAL_WORKER, ["patient.read"])
    response = client.get(
        f"/api/v1/fhir/Patient/{related.pk}/record/medicines",
        **bearer(token(client, api, secret)),
    )
    assert response.status_code == 200
    outcome = valid_fhir(response.json())["entry"][-1]["resource"]
    assert [(i["code"], i["details"]["coding"][0]["code"]) for i in outcome["issue"]] == [
        ("suppressed", "medicines")
    ]
    assert AccessEvent.objects.get().categories == []


def test_an_unknown_heading_is_404(client, world, epr):
    _, related, _ = world
    _, access_token = epr
    response = client.get(
        f"/api/v1/fhir/Patient/{related.pk}/record/horoscope", **bearer(access_token)
    )
    assert response.status_code == 404
    assert outcome_codes(valid_fhir(response.json())) == ["unknown-category"]
    assert not AccessEvent.objects.exists()


def test_an_unexpected_fault_is_a_500_operation_outcome_without_internals(
    client, world, epr, monkeypatch
):
    _, related, _ = world
    _, access_token = epr

    def broken(**kwargs):
        raise RuntimeError("secret internals /srv/app.py line 3")

    monkeypatch.setattr("care_record.api.read_record", broken)
    response = client.get(summary_url(related), **bearer(access_token))
    assert response.status_code == 500
    assert outcome_codes(valid_fhir(response.json())) == ["internal-error"]
    assert "secret internals" not in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_the_schema_and_its_documentation_pages_are_open_and_list_every_route(client, db):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = set(schema.json()["paths"])
    assert "/api/v1/fhir/Patient/{patient_id}/$summary" in paths
    assert "/api/v1/relationships" in paths
    oauth = schema.json()["components"]["securitySchemes"]["oauth2"]
    assert oauth["flows"]["clientCredentials"]["tokenUrl"] == "/api/oauth/token/"
    for page in ("/api/v1/docs/", "/api/v1/redoc/"):
        assert client.get(page).status_code == 200, page


def test_a_read_costs_a_bounded_number_of_queries(
    client, world, epr, django_assert_max_num_queries
):
    _, related, _ = world
    _, access_token = epr
    for _ in range(3):
        LinkFactory(patient=related)  # three sources: the count grows by one per source at most
    headers = bearer(access_token)
    client.get(summary_url(related), **headers)  # first look: snapshots claimed for fetching
    with django_assert_max_num_queries(25):
        response = client.get(summary_url(related), **headers)
    assert response.status_code == 200


def test_the_bearer_token_and_its_client_are_read_in_one_query(client, world, epr):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _, related, _ = world
    _, access_token = epr
    headers = bearer(access_token)
    client.get(summary_url(related), **headers)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(summary_url(related), **headers)
    assert response.status_code == 200
    reads = [q["sql"] for q in queries if 'FROM "oauth2_provider_accesstoken"' in q["sql"]]
    assert len(reads) == 1 and '"access_apiclient"' in reads[0]
    assert not [q for q in queries if q["sql"].startswith('SELECT "access_apiclient"')]


def test_an_unknown_address_under_the_api_answers_in_the_apis_own_format(client, db):
    fhir = client.get("/api/v1/fhir/Medication/1")
    assert fhir.status_code == 404
    assert fhir["Content-Type"] == "application/fhir+json"
    assert outcome_codes(valid_fhir(fhir.json())) == ["not-found"]
    other = client.post("/api/v1/nothing-here", {}, content_type="application/json")
    assert other.status_code == 404
    assert other["Content-Type"] == "application/problem+json"
    assert other.json()["code"] == "not-found"
