"""Every API route that touches patients refuses a client without a token (401), without the
route's scope (403), and without a care relationship or the role the route needs (404, or an
empty search): the portal's deny-by-default, route by route.
"""

import pytest
from django.core.cache import cache

from access import services
from access.models import CareRelationship, Role, Team
from audit.models import AccessEvent
from tests.api_helpers import (
    api_client_for,
    bearer,
    token,
)
from tests.factories import PatientFactory, UserFactory, make_team
from tests.test_permission_matrix import (
    API_ROUTES,
    SENSITIVITIES,
    policy_shows,
    sensitive_referral_at_the_gp,
)

pytestmark = pytest.mark.django_db

# route: (method, address for a patient and a relationship, JSON body, scope, a role it serves)
SPECS = {
    "api-patient-search": (
        "get", lambda p, r: f"/api/v1/fhir/Patient?identifier={p.nhs_number}", None,
        "patient.read", Role.GP,
    ),
    "api-patient-summary": (
        "get", lambda p, r: f"/api/v1/fhir/Patient/{p.pk}/$summary", None, "patient.read", Role.GP,
    ),
    "api-patient-record": (
        "get", lambda p, r: f"/api/v1/fhir/Patient/{p.pk}/record/allergies", None,
        "patient.read", Role.GP,
    ),
    "api-access-report": (
        "get", lambda p, r: f"/api/v1/fhir/AuditEvent?patient={p.pk}", None, "audit.read",
        Role.PRIVACY_OFFICER,
    ),
    "api-relationships": (
        "post", lambda p, r: "/api/v1/relationships",
        # (another kind than the world's own referral, which is already in place)
        lambda p, team: {"nhs_number": p.nhs_number, "team": team.pk, "kind": "current_episode",
                         "reason": "attending"},
        "relationship.write", Role.ADMINISTRATOR,
    ),
    "api-relationship-end": (
        "post", lambda p, r: f"/api/v1/relationships/{r.pk}/end",
        lambda p, team: {"reason": "discharged"}, "relationship.write", Role.ADMINISTRATOR,
    ),
}  # fmt: skip
OTHER_SCOPE = {"patient.read": "audit.read", "audit.read": "patient.read"}


@pytest.fixture(autouse=True)
def _fresh_rate_counts():
    cache.clear()


@pytest.fixture
def world(db):
    admin = UserFactory(username="setup-admin")
    client_team = make_team("Partner team", Team.Kind.COMMUNITY_TEAM, ods_code="P1")
    other_team = make_team("Another team", Team.Kind.COMMUNITY_TEAM, ods_code="P2")
    patient = PatientFactory()
    # Someone cares for the patient, but not the client's team.
    relationship = services.start_relationship(
        patient=patient, team=other_team, kind="referral", reason="r", actor=admin
    )
    return client_team, other_team, patient, relationship


def call(http, route, world, headers):
    _, other_team, patient, relationship = world
    method, address, body, _, _ = SPECS[route]
    url = address(patient, relationship)
    if method == "get":
        return http.get(url, **headers)
    return http.post(url, body(patient, other_team), content_type="application/json", **headers)


def test_every_api_route_is_in_this_matrix():
    assert set(SPECS) == API_ROUTES


@pytest.mark.parametrize("route", sorted(SPECS))
def test_an_api_route_refuses_a_call_without_a_token(client, world, route):
    assert call(client, route, world, {}).status_code == 401


@pytest.mark.parametrize("route", sorted(SPECS))
def test_an_api_route_refuses_a_client_without_its_scope(client, world, route):
    _, _, _, scope, role = SPECS[route]
    other = OTHER_SCOPE.get(scope, "patient.read")
    api, secret = api_client_for(world[0], role, [other])
    response = call(client, route, world, bearer(token(client, api, secret)))
    assert response.status_code == 403, route
    assert not AccessEvent.objects.exists()


# What each role gets from each route when its team cares for nobody: patients' data needs a
# relationship; the access report and relationships serve a role (as the portal's pages do).
ALLOWED_WITHOUT_RELATIONSHIP = {
    ("api-access-report", Role.PRIVACY_OFFICER): 200,
    ("api-relationships", Role.ADMINISTRATOR): 201,
    ("api-relationship-end", Role.ADMINISTRATOR): 200,
}
ROLES = (Role.GP, Role.SOCIAL_WORKER, Role.ADMINISTRATOR, Role.PRIVACY_OFFICER)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(SPECS))
def test_an_api_route_refuses_a_client_without_a_relationship_or_the_role(
    client, world, route, role
):
    patient, scope = world[2], SPECS[route][3]
    api, secret = api_client_for(world[0], role, [scope])
    response = call(client, route, world, bearer(token(client, api, secret)))
    expected = ALLOWED_WITHOUT_RELATIONSHIP.get((route, role))
    if route == "api-patient-search":
        assert response.status_code == 200
        assert response.json()["total"] == 0
        assert patient.family_name not in response.content.decode()
    elif expected is None:
        assert response.status_code == 404, f"{route} {role}"
        assert patient.family_name not in response.content.decode()
        assert CareRelationship.objects.count() == 1
        assert CareRelationship.objects.get().ended_at is None
    else:
        assert response.status_code == expected, f"{route} {role}"
    # Only the privacy system's report shows who the patient is: that look is recorded.
    assert AccessEvent.objects.count() == (1 if route == "api-access-report" and expected else 0)


API_SENSITIVE_ROLES = (
    Role.GP, Role.PRACTICE_NURSE, Role.AE_CLINICIAN, Role.COMMUNITY_NURSE,
    Role.MENTAL_HEALTH_CLINICIAN, Role.SOCIAL_WORKER,
)  # fmt: skip


@pytest.mark.parametrize("sensitivity", SENSITIVITIES)
@pytest.mark.parametrize("role", API_SENSITIVE_ROLES)
def test_the_summary_api_shows_or_withholds_and_counts_sensitive_items_as_the_page_does(
    client, world, role, sensitivity
):
    """Partners look only through a relationship (they cannot break glass): the same policy as
    the page, and the heading's issue says how many were withheld because they are sensitive."""
    from access.models import RolePolicy

    client_team, _, patient, _ = world
    services.start_relationship(
        patient=patient, team=client_team, kind="referral", reason="r",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    sensitive_referral_at_the_gp(patient, sensitivity)
    api, secret = api_client_for(client_team, role, ["patient.read"])

    response = client.get(
        f"/api/v1/fhir/Patient/{patient.pk}/$summary", **bearer(token(client, api, secret))
    )

    assert response.status_code == 200
    resources = [entry["resource"] for entry in response.json()["entry"]]
    ids = {r.get("id") for r in resources if r["resourceType"] == "ServiceRequest"}
    shown = policy_shows(RolePolicy.objects.get(role=role), sensitivity, "relationship")
    assert ids == ({"ServiceRequest-1", "ServiceRequest-2"} if shown else {"ServiceRequest-2"})
    outcome = next(r for r in resources if r["resourceType"] == "OperationOutcome")
    referrals = [
        issue for issue in outcome["issue"]
        if issue["details"]["text"].startswith("Referrals from Mile End Surgery GP")
    ]  # fmt: skip
    assert len(referrals) == 1
    withheld = "1 item withheld because it is sensitive" in referrals[0]["details"]["text"]
    assert withheld is not shown, f"{role} {sensitivity}"
    assert (referrals[0]["code"] == "suppressed") is not shown
