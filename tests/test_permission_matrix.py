"""Every role x every route that touches a patient x every access situation gets the answer the
policy says, and anything refused looks exactly like a patient that does not exist (404).

A new route that names a patient fails `test_every_patient_route_is_classified` until it is
added to ROUTES below with its expected answer.
"""

import datetime
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from access import services
from access.models import BreakGlassAccess, RolePolicy, Team
from tests.factories import PatientFactory, UserFactory, make_team, member

pytestmark = pytest.mark.django_db

SITUATIONS = ("related", "unrelated", "expired", "objected", "break_glass")
ROLES = (
    "gp",
    "practice_nurse",
    "ae_clinician",
    "community_nurse",
    "mental_health_clinician",
    "social_worker",
    "administrator",
    "privacy_officer",
)


def sees_record(policy: RolePolicy, situation: str) -> bool:
    if not policy.categories:
        return False
    if situation == "related":
        return True
    return situation == "break_glass" and policy.may_break_glass


# route name -> (HTTP method, expected "allowed" predicate); refused always means 404.
ROUTES = {
    "patient-record": ("get", sees_record),
    "patient-break-glass": ("get", lambda policy, situation: policy.may_break_glass),
    "manage-patient": ("get", lambda policy, situation: policy.manages_relationships),
    "manage-record-objection": ("post", lambda policy, situation: policy.manages_relationships),
}
ALLOWED_STATUS = {"get": 200, "post": 302}


def without_csrf(page: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", page)


def patient_routes() -> set[str]:
    found = set()

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and "patient_id" in str(pattern.pattern):
                found.add(pattern.name)

    walk(get_resolver().url_patterns)
    return found


def test_every_patient_route_is_classified():
    assert patient_routes() == set(ROUTES)


@pytest.fixture
def world(db):
    admin = UserFactory(username="setup-admin")
    team = make_team("Care team", Team.Kind.COMMUNITY_TEAM, ods_code="T1")
    patient = PatientFactory()
    return admin, team, patient


def arrange(situation: str, role: str, world):
    admin, team, patient = world
    user = member(team, role, f"{role}-user")
    today = datetime.date.today()
    if situation in ("related", "objected"):
        services.start_relationship(
            patient=patient, team=team, kind="referral", reason="r", actor=admin
        )
    if situation == "objected":
        services.record_objection(patient=patient, notes="asked", actor=admin)
    if situation == "expired":
        relationship = services.start_relationship(
            patient=patient, team=team, kind="referral", reason="r", actor=admin,
            starts_on=today - datetime.timedelta(days=10), ends_on=today,
        )  # fmt: skip
        type(relationship).objects.filter(pk=relationship.pk).update(
            starts_on=today - datetime.timedelta(days=10),
            ends_on=today - datetime.timedelta(days=1),
        )  # its last day has passed; the periodic task has not yet run
    if situation == "break_glass" and RolePolicy.objects.get(role=role).may_break_glass:
        services.break_glass(user=user, team=team, patient=patient, reason="other", explanation="x")
    return user, patient


@pytest.mark.parametrize("situation", SITUATIONS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_permission_matrix(client, world, route, role, situation):
    user, patient = arrange(situation, role, world)
    client.force_login(user)
    method, allowed = ROUTES[route]
    expected = allowed(RolePolicy.objects.get(role=role), situation)

    url = reverse(route, kwargs={"patient_id": patient.pk})
    response = getattr(client, method)(url, {"notes": "asked again"} if method == "post" else None)

    assert response.status_code == (ALLOWED_STATUS[method] if expected else 404), (
        f"{role} {situation} {route}"
    )
    if not expected:
        assert patient.family_name not in response.content.decode()


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_missing_patient_and_a_refused_one_look_the_same(client, world, route):
    user, patient = arrange("unrelated", "social_worker", world)
    client.force_login(user)
    method, _ = ROUTES[route]
    refused = getattr(client, method)(reverse(route, kwargs={"patient_id": patient.pk}))
    missing = getattr(client, method)(reverse(route, kwargs={"patient_id": patient.pk + 999}))
    assert refused.status_code == missing.status_code == 404
    assert without_csrf(refused.content) == without_csrf(missing.content)


def test_someone_in_no_team_is_refused_everywhere(client, world):
    _, _, patient = world
    client.force_login(UserFactory(username="loner"))
    for route, (method, _) in ROUTES.items():
        response = getattr(client, method)(reverse(route, kwargs={"patient_id": patient.pk}))
        assert response.status_code == 404, route


def test_a_signed_out_visitor_is_sent_to_sign_in_from_every_patient_route(client, world):
    _, _, patient = world
    for route, (method, _) in ROUTES.items():
        response = getattr(client, method)(reverse(route, kwargs={"patient_id": patient.pk}))
        assert response.status_code == 302 and "/sign-in/" in response["Location"], route


def test_break_glass_banner_is_on_the_record_page(client, world):
    user, patient = arrange("break_glass", "ae_clinician", world)
    client.force_login(user)
    page = client.get(reverse("patient-record", kwargs={"patient_id": patient.pk})).content.decode()
    assert "Emergency access." in page
    assert BreakGlassAccess.objects.get().expires_at.strftime("%H:%M") in page or "ends at" in page
