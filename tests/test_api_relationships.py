"""Administrators' systems start and end care relationships through the API (validated JSON, no
partial writes); privacy officers' systems read a patient's access report as FHIR AuditEvents."""

import pytest
from django.core.cache import cache

from access.models import CareRelationship, Role, Team
from audit.models import AccessEvent
from tests.api_helpers import (
    api_client_for,
    bearer,
    outcome_codes,
    token,
    valid_fhir,
)
from tests.factories import PatientFactory, make_team

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_counts():
    cache.clear()


@pytest.fixture
def teams(db):
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="R1")
    practice = make_team("Hackney practice", Team.Kind.GP_PRACTICE, ods_code="F84001")
    return office, practice


@pytest.fixture
def admin_system(client, teams):
    office, _ = teams
    api, secret = api_client_for(office, Role.ADMINISTRATOR, ["relationship.write"])
    return bearer(token(client, api, secret), end_user="admin.clerk")


def start(client, headers, body):
    return client.post("/api/v1/relationships", body, content_type="application/json", **headers)


def test_an_administrators_system_starts_a_relationship_that_opens_the_record(
    client, teams, admin_system
):
    _, practice = teams
    patient = PatientFactory()
    body = {"nhs_number": patient.nhs_number, "team": practice.pk, "kind": "registered_gp",
            "reason": "registered at the practice"}  # fmt: skip
    response = start(client, admin_system, body)
    assert response.status_code == 201, response.content
    relationship = CareRelationship.objects.get()
    assert response.json()["id"] == relationship.pk
    assert (relationship.team, relationship.patient) == (practice, patient)
    assert relationship.granted_at is not None

    gp_system, secret = api_client_for(practice, Role.GP, ["patient.read"])
    summary = client.get(
        f"/api/v1/fhir/Patient/{patient.pk}/$summary",
        **bearer(token(client, gp_system, secret)),
    )
    assert summary.status_code == 200


def test_a_relationship_already_in_place_is_a_409_problem_and_is_not_made_twice(
    client, teams, admin_system
):
    _, practice = teams
    patient = PatientFactory()
    body = {"nhs_number": patient.nhs_number, "team": practice.pk, "kind": "registered_gp",
            "reason": "registered at the practice"}  # fmt: skip
    assert start(client, admin_system, body).status_code == 201

    again = start(client, admin_system, {**body, "starts_on": "2099-01-01"})

    assert again.status_code == 409
    assert again.json()["code"] == "relationship-already-in-place"
    assert "This relationship is already in place (from " in again.json()["title"]
    assert CareRelationship.objects.count() == 1


def test_an_administrators_system_ends_a_relationship_and_access_goes(client, teams, admin_system):
    _, practice = teams
    patient = PatientFactory()
    body = {"nhs_number": patient.nhs_number, "team": practice.pk, "kind": "referral",
            "reason": "referred"}  # fmt: skip
    relationship_id = start(client, admin_system, body).json()["id"]
    ended = client.post(
        f"/api/v1/relationships/{relationship_id}/end",
        {"reason": "discharged"},
        content_type="application/json",
        **admin_system,
    )
    assert ended.status_code == 200
    assert ended.json()["ended_at"] is not None
    huge = client.post(
        f"/api/v1/relationships/{10**30}/end",
        {"reason": "x"},
        content_type="application/json",
        **admin_system,
    )
    assert huge.status_code == 404
    again = client.post(
        f"/api/v1/relationships/{relationship_id}/end",
        {"reason": "again"},
        content_type="application/json",
        **admin_system,
    )
    assert again.status_code == 400
    assert again.json()["code"] == "relationship-refused"

    gp_system, secret = api_client_for(practice, Role.GP, ["patient.read"])
    summary = client.get(
        f"/api/v1/fhir/Patient/{patient.pk}/$summary",
        **bearer(token(client, gp_system, secret)),
    )
    assert summary.status_code == 404


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"nhs_number": "12345"}, "invalid", "nhs_number"),
        ({"kind": "friend"}, "invalid", "kind"),
        ({"reason": ""}, "invalid", "reason"),
        ({"team": 999999}, "unknown-team", None),
        ({"team": 10**30}, "invalid", "team"),
        ({"nhs_number": "9990000018"}, "unknown-patient", None),
        ({"starts_on": "2026-12-10", "ends_on": "2026-12-01"}, "relationship-refused", None),
        ({"starts_on": "not a date"}, "invalid", "starts_on"),
    ],
)
def test_bad_input_gets_a_problem_with_a_stable_code_and_writes_nothing(
    client, teams, admin_system, change, code, field
):
    _, practice = teams
    patient = PatientFactory()
    body = {"nhs_number": patient.nhs_number, "team": practice.pk, "kind": "referral",
            "reason": "referred", **change}  # fmt: skip
    response = start(client, admin_system, body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    assert problem["status"] == 400
    if field:
        assert field in problem["errors"]
    assert not CareRelationship.objects.exists()


def test_a_body_that_is_not_json_is_a_problem_not_a_crash(client, admin_system):
    response = client.post(
        "/api/v1/relationships", "{not json", content_type="application/json", **admin_system
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed-request"
    listed = start(client, admin_system, [1, 2])
    assert listed.status_code == 400
    assert listed.json()["code"] == "invalid"


def test_a_privacy_officers_system_reads_the_access_report_as_fhir_audit_events(client, teams):
    office, practice = teams
    patient = PatientFactory()
    body = {"nhs_number": patient.nhs_number, "team": practice.pk, "kind": "referral",
            "reason": "referred"}  # fmt: skip
    admin_api, admin_secret = api_client_for(office, Role.ADMINISTRATOR, ["relationship.write"])
    start(client, bearer(token(client, admin_api, admin_secret)), body)
    gp_api, gp_secret = api_client_for(practice, Role.GP, ["patient.read"])
    gp = bearer(token(client, gp_api, gp_secret), end_user="dr.jones")
    for _ in range(3):
        client.get(f"/api/v1/fhir/Patient/{patient.pk}/$summary", **gp)

    privacy_api, secret = api_client_for(office, Role.PRIVACY_OFFICER, ["audit.read"])
    privacy = bearer(token(client, privacy_api, secret))
    report = client.get("/api/v1/fhir/AuditEvent", {"patient": patient.pk, "_count": 2}, **privacy)
    assert report.status_code == 200
    bundle = valid_fhir(report.json())
    assert bundle["total"] == AccessEvent.objects.count() == 4  # 3 reads and this report's look
    assert len(bundle["entry"]) == 2
    event = bundle["entry"][0]["resource"]  # newest first: the privacy system's own look
    assert event["resourceType"] == "AuditEvent"
    assert event["source"]["site"] == "api"
    assert event["agent"][0]["who"]["display"] == privacy_api.service_user.username
    read = bundle["entry"][1]["resource"]  # a GP system's read, for its own user
    assert read["agent"][0]["who"]["display"] == gp_api.service_user.username
    assert read["agent"][0]["altId"] == "dr.jones"
    assert read["agent"][1]["who"]["identifier"]["value"] == gp_api.application.client_id
    missing = client.get("/api/v1/fhir/AuditEvent", {"patient": patient.pk + 99}, **privacy)
    assert missing.status_code == 404
    for nonsense in ("x", "²", "9" * 5000, "0"):
        bad = client.get("/api/v1/fhir/AuditEvent", {"patient": nonsense}, **privacy)
        assert bad.status_code == 400, nonsense
        assert outcome_codes(valid_fhir(bad.json())) == ["invalid"]


def test_an_administrators_system_cannot_open_records_for_its_own_team(client, teams):
    office, _ = teams
    api, secret = api_client_for(office, Role.ADMINISTRATOR, ["relationship.write"])
    patient = PatientFactory()
    body = {"nhs_number": patient.nhs_number, "team": office.pk, "kind": "referral",
            "reason": "ourselves"}  # fmt: skip
    response = start(client, bearer(token(client, api, secret)), body)
    assert response.status_code == 400
    assert response.json()["code"] == "relationship-refused"
    assert not CareRelationship.objects.exists()
