"""Every role x every route that touches a patient x every access situation gets the answer the
policy says, and anything refused looks exactly like a patient that does not exist (404).

Every named route of the project is classified below; a new route fails
`test_every_route_is_classified` until it is added with its expected answer.
"""

import datetime
import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from access import services
from access.models import (
    BreakGlassAccess,
    IdentityProvider,
    Objection,
    RoleMapping,
    RolePolicy,
    Team,
)
from access.services.sign_in import sign_in_with_claims
from audit.models import AccessEvent
from lcr.signin import SESSION_ASSURANCE
from records.models import Snapshot
from tests.factories import (
    LinkFactory,
    PatientFactory,
    SourceSystemFactory,
    UserFactory,
    a_look,
    make_team,
    member,
)
from tests.patient_helpers import sign_in_as_patient

pytestmark = pytest.mark.django_db

SITUATIONS = ("related", "unrelated", "expired", "objected", "break_glass", "objected_break_glass")
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
    return situation in ("break_glass", "objected_break_glass") and policy.may_break_glass


def sees_documents(policy: RolePolicy, situation: str) -> bool:
    return sees_record(policy, situation) and "documents" in policy.categories


# Routes that name a patient: (HTTP method, expected "allowed" predicate); refused means 404.
ROUTES = {
    "patient-record": ("get", sees_record),
    "patient-document": ("get", sees_documents),
    "manage-patient": ("get", lambda policy, situation: policy.manages_relationships),
    "manage-record-objection": ("post", lambda policy, situation: policy.manages_relationships),
    "audit-access-report": ("get", lambda policy, situation: policy.reviews_break_glass),
    "audit-subject-access-request": ("post", lambda policy, situation: policy.reviews_break_glass),
}
ALLOWED_STATUS = {"get": 200, "post": 302}
# A posted form that answers with a page of its own (the matrix posts an incomplete one: the page
# says what is missing).
ALLOWED_STATUS_OF_ROUTE = {"audit-subject-access-request": 200}
# The updates of an open look (care_record/updates.py): allowed as the record is, never a new look.
LOOK_UPDATES = {"record-updates": ("get", sees_record)}
# What a route names besides the patient: the document the world's patient has at its hospital.
ROUTE_ARGUMENTS = {"patient-document": {"source_ods_code": "RXT", "document_id": "doc-1"}}


def address(route: str, patient_id: int) -> str:
    return reverse(route, kwargs={"patient_id": patient_id, **ROUTE_ARGUMENTS.get(route, {})})


# Routes that touch patients without naming one in the address, by who may use them.
ADMINISTRATORS_ONLY = {
    "manage-find-patient": ("get", {}),
    "manage-import-relationships": ("get", {}),
    "manage-import-check": ("get", {"import_id": 1}),
    "manage-import-run": ("post", {"import_id": 1}),
    "manage-import-results": ("get", {"import_id": 1}),
    "manage-import-results-csv": ("get", {"import_id": 1}),
    "manage-end-relationship": ("post", {"relationship_id": 1}),
    "manage-withdraw-objection": ("post", {"objection_id": 1}),
    "manage-teams": ("get", {}),
    "manage-team-members": ("get", {"team_id": 1}),
    "manage-end-membership": ("post", {"membership_id": 1}),
}
BREAK_GLASS_ONLY = {"break-glass": ("get", {})}
PRIVACY_OFFICERS_ONLY = {
    "audit-review-queue": ("get", {}),
    "audit-review-break-glass": ("post", {"access_id": 1}),
    "audit-review-queue-csv": ("get", {}),
    "audit-break-glass": ("get", {"access_id": 1}),
    "audit-alert-evidence": ("get", {"kind": "out-of-hours", "user_id": 1}),
    "audit-membership-changes": ("get", {}),
    "audit-find-patient": ("get", {}),
    "audit-access-report-columns": ("get", {}),
    "audit-patient-questions": ("get", {}),
    "audit-answer-question": ("post", {"question_id": 1}),
}
# The identity reviewers' pages (care_record/identity_review.py, identity_merging.py): staff in
# no team, by their Django model permissions (records.permissions), never by a team's role; the
# merge pages need the merge permissions too (tests/test_identity_review.py and
# tests/test_identity_merge_pages.py for the rest).
IDENTITY_REVIEWERS_ONLY = {
    "identity-queue": ("get", {}),
    "identity-record": ("get", {"record_id": 1}),
    "identity-decide": ("get", {"record_id": 1}),
}
MERGERS_ONLY = {
    "identity-merges": ("get", {}),
    "identity-merge-choose": ("get", {}),
    "identity-merge-compare": ("get", {}),
    "identity-merge-request": ("get", {"request_id": 1}),
    "identity-merge": ("get", {"merge_id": 1}),
}
# The patients' own pages (care_record/patient_portal.py): only a patient signed in through NHS
# login, and only their own rows. Every staff role gets 404, a signed-out visitor the patients'
# sign-in (tests/test_patient_portal.py and tests/test_patient_sign_in.py for the rest).
PATIENT_ROUTES = {
    "patient-home": ("get", {}),
    "patient-looks": ("get", {}),
    "patient-ask-about-look": ("get", {"look_id": 1}),
    "patient-questions": ("get", {}),
    "patient-sharing": ("get", {}),
    "patient-object": ("post", {}),
    "patient-withdraw-objection": ("post", {}),
}
# Routes that show no patient data: public, or for the signed-in user's own account.
# patient-search shows only patients the user may see (test_search_finds_only_whom_the_record_
# would_open, below, and tests/test_search.py). A launch from a clinical system shows none: it
# ends on patient-record only where that would open, else 404 (tests/test_smart_launch.py).
OTHER_ROUTES = {
    "home", "health", "ready", "login", "logout", "choose-team", "two-factor", "two-factor-setup",
    "patient-search", "sign-in-with", "sign-in-callback", "sign-in-no-role", "backchannel-logout",
    "oidc-jwks", "launch", "launch-callback",
    # The signed-in user's own choice of how patients see them (404 unless the deployment
    # allows the choice: tests/test_patient_portal.py).
    "account-shown-to-patients",
    # Patients' sign-in through NHS login, and sign-out (tests/test_patient_sign_in.py).
    "patient-sign-in", "patient-sign-in-begin", "patient-sign-in-callback", "patient-sign-out",
}  # fmt: skip
# The partner API: tests/test_api_matrix.py checks that each refuses a client without a token,
# without the route's scope, and without a relationship (or the role the route needs).
API_ROUTES = {
    "api-patient-search",
    "api-patient-summary",
    "api-patient-record",
    "api-access-report",
    "api-relationships",
    "api-relationship-end",
}
# The API's token endpoint, schema and documentation: no patient data.
API_PUBLIC_ROUTES = {"api-token", "api-schema", "api-docs", "api-redoc"}
# For Prometheus only (lcr/metrics.py): no patient data, and 404 to every person, whatever their
# role; only a configured address or bearer token reads it (tests/test_metrics.py).
MONITORING_ROUTES = {"metrics"}


def without_csrf(page: bytes) -> bytes:
    """The page without its CSRF tokens (in forms, and in htmx's headers), masked anew each time."""
    page = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", page)
    return re.sub(rb"X-CSRFToken&#34;: &#34;[^&]+&#34;", b"", page)


def project_routes() -> dict[str, str]:
    """Every named route outside the Django admin (which has its own staff-only permissions)."""
    found = {}

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.app_name != "admin":
                    walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and pattern.name:
                found[pattern.name] = str(pattern.pattern)

    walk(get_resolver().url_patterns)
    return found


def test_every_route_is_classified():
    routes = project_routes()
    classified = (
        set(ROUTES)
        | set(LOOK_UPDATES)
        | set(ADMINISTRATORS_ONLY)
        | set(BREAK_GLASS_ONLY)
        | set(PRIVACY_OFFICERS_ONLY)
        | set(IDENTITY_REVIEWERS_ONLY)
        | set(MERGERS_ONLY)
        | set(PATIENT_ROUTES)
        | OTHER_ROUTES
        | API_ROUTES
        | API_PUBLIC_ROUTES
        | MONITORING_ROUTES
    )
    assert set(routes) == classified
    pages_naming_a_patient = {
        name for name, pattern in routes.items() if "patient_id" in pattern
    } - API_ROUTES
    assert pages_naming_a_patient == set(ROUTES) | set(LOOK_UPDATES)


@pytest.fixture
def world(db):
    admin = UserFactory(username="setup-admin")
    team = make_team("Care team", Team.Kind.COMMUNITY_TEAM, ods_code="T1")
    patient = PatientFactory()
    holds_a_letter(patient)
    return admin, team, patient


def holds_a_letter(patient) -> None:
    """The patient's hospital holds one letter, inline, so opening it asks no server."""
    link = LinkFactory(patient=patient, source=SourceSystemFactory(ods_code="RXT"), local_id="L1")
    now = timezone.now()
    letter = {
        "resourceType": "DocumentReference",
        "id": "doc-1",
        "status": "current",
        "content": [{"attachment": {"contentType": "text/plain", "data": "TGV0dGVy"}}],
    }
    Snapshot.objects.create(
        link=link, category="documents", status=Snapshot.Status.FRESH, requested_at=now,
        fetched_at=now, expires_at=now + datetime.timedelta(hours=1), item_count=1,
        items=[{"resource_type": "DocumentReference", "resource_id": "doc-1", "title": "Letter",
                "resource": letter}],
    )  # fmt: skip


def signed_in_through_provider(team, role: str):
    """A user as CIS2 signs them in: made and put in the team by the role mapping of their
    selected role, with no password of their own."""
    provider = IdentityProvider.objects.get_or_create(
        slug="cis2", defaults={"name": "NHS CIS2", "issuer": "http://127.0.0.1:1/oidc"}
    )[0]
    RoleMapping.objects.create(
        provider=provider, organisation=team.ods_code, rbac_code="R8000", team=team, role=role
    )
    claims = {
        "sub": f"cis2-{role}",
        "authentication_assurance_level": "3",
        "selected_roleid": "1",
        "nhsid_nrbac_roles": [
            {"person_roleid": "1", "org_code": team.ods_code, "role_code": "S8000:G8000:R8000"}
        ],
    }
    return sign_in_with_claims(provider=provider, claims=claims).user


def arrange(situation: str, role: str, world, signed_in_by: str = "password"):
    admin, team, patient = world
    if signed_in_by == "identity provider":
        user = signed_in_through_provider(team, role)
    else:
        user = member(team, role, f"{role}-user")
    today = datetime.date.today()
    if situation in ("related", "objected", "objected_break_glass"):
        services.start_relationship(
            patient=patient, team=team, kind="referral", reason="r", actor=admin
        )
    if situation in ("objected", "objected_break_glass"):
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
    breaks_glass = situation in ("break_glass", "objected_break_glass")
    if breaks_glass and RolePolicy.objects.get(role=role).may_break_glass:
        services.break_glass(user=user, team=team, patient=patient, reason="other", explanation="x")
    return user, patient


@pytest.mark.parametrize("signed_in_by", ["password", "identity provider"])
@pytest.mark.parametrize("situation", SITUATIONS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_permission_matrix(client, world, route, role, situation, signed_in_by):
    user, patient = arrange(situation, role, world, signed_in_by)
    if signed_in_by == "password":
        client.force_login(user)  # (with its second factor, where the role needs one)
    else:  # a smartcard's sign-in is its second factor: no authenticator app
        Client.force_login(client, user)
        session = client.session
        session[SESSION_ASSURANCE] = 3
        session.save()
    method, allowed = ROUTES[route]
    expected = allowed(RolePolicy.objects.get(role=role), situation)

    url = address(route, patient.pk)
    response = getattr(client, method)(url, {"notes": "asked again"} if method == "post" else None)

    allowed_status = ALLOWED_STATUS_OF_ROUTE.get(route, ALLOWED_STATUS[method])
    assert response.status_code == (allowed_status if expected else 404), (
        f"{role} {situation} {route}"
    )
    if method == "get":  # every page showing who a patient is leaves exactly one access event
        assert AccessEvent.objects.count() == (1 if expected else 0)
    if not expected:
        page = response.content.decode()
        assert patient.formatted_nhs_number not in page
        assert patient.family_name.upper() not in page


@pytest.mark.parametrize("situation", SITUATIONS)
@pytest.mark.parametrize("role", ROLES)
def test_a_looks_updates_follow_the_matrix_and_are_never_a_look_of_their_own(
    client, world, role, situation
):
    user, patient = arrange(situation, role, world)
    client.force_login(user)
    _, allowed = LOOK_UPDATES["record-updates"]
    expected = allowed(RolePolicy.objects.get(role=role), situation)
    client.get(reverse("patient-record", kwargs={"patient_id": patient.pk}))
    looks = AccessEvent.objects.count()
    look = AccessEvent.objects.filter(user=user).first()

    url = reverse("record-updates", kwargs={"patient_id": patient.pk})
    response = client.get(url, {"look": look.pk if look else 1})

    assert response.status_code == (200 if expected else 404), f"{role} {situation}"
    assert AccessEvent.objects.count() == looks
    if not expected:
        assert patient.family_name.upper() not in response.content.decode()


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_missing_patient_and_a_refused_one_look_the_same(client, world, route):
    user, patient = arrange("unrelated", "social_worker", world)
    client.force_login(user)
    method, _ = ROUTES[route]
    refused = getattr(client, method)(address(route, patient.pk))
    missing = getattr(client, method)(address(route, patient.pk + 999))
    assert refused.status_code == missing.status_code == 404
    assert without_csrf(refused.content) == without_csrf(missing.content)


def test_someone_in_no_team_is_refused_everywhere(client, world):
    _, _, patient = world
    client.force_login(UserFactory(username="loner"))
    for route, (method, _) in ROUTES.items():
        response = getattr(client, method)(address(route, patient.pk))
        assert response.status_code == 404, route


def test_a_signed_out_visitor_is_sent_to_sign_in_from_every_patient_route(client, world):
    _, _, patient = world
    for route, (method, _) in ROUTES.items():
        response = getattr(client, method)(address(route, patient.pk))
        assert response.status_code == 302 and "/sign-in/" in response["Location"], route


def test_break_glass_banner_is_on_the_record_page(client, world):
    user, patient = arrange("break_glass", "ae_clinician", world)
    client.force_login(user)
    page = client.get(reverse("patient-record", kwargs={"patient_id": patient.pk})).content.decode()
    assert "Emergency access." in page
    expires = timezone.localtime(BreakGlassAccess.objects.get().expires_at)
    assert f"ends at {expires:%H:%M}" in page


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "route", sorted(ADMINISTRATORS_ONLY) + sorted(BREAK_GLASS_ONLY) + sorted(PRIVACY_OFFICERS_ONLY)
)
def test_routes_for_some_roles_refuse_the_others(client, world, role, route):
    user, _ = arrange("unrelated", role, world)
    client.force_login(user)
    method, kwargs = {**ADMINISTRATORS_ONLY, **BREAK_GLASS_ONLY, **PRIVACY_OFFICERS_ONLY}[route]
    policy = RolePolicy.objects.get(role=role)
    allowed = {
        **dict.fromkeys(ADMINISTRATORS_ONLY, policy.manages_relationships),
        **dict.fromkeys(BREAK_GLASS_ONLY, policy.may_break_glass),
        **dict.fromkeys(PRIVACY_OFFICERS_ONLY, policy.reviews_break_glass),
    }[route]
    response = getattr(client, method)(reverse(route, kwargs=kwargs))
    if not allowed:
        assert response.status_code == 404, f"{role} {route}"
    elif not kwargs:  # (with ids, the allowed answer depends on whether they name anything)
        assert response.status_code == 200, f"{role} {route}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(MONITORING_ROUTES))
def test_monitoring_routes_are_not_found_for_every_role_and_a_signed_out_visitor(
    client, world, role, route, settings
):
    settings.LCR_METRICS_TOKEN = "a-token-nobody-here-sends"
    settings.LCR_METRICS_ALLOWED_ADDRESSES = []
    assert client.get(reverse(route)).status_code == 404
    user, _ = arrange("related", role, world)
    client.force_login(user)

    response = client.get(reverse(route))

    assert response.status_code == 404
    assert b"lcr_" not in response.content


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(IDENTITY_REVIEWERS_ONLY) + sorted(MERGERS_ONLY))
def test_identity_pages_are_not_found_for_every_teams_role(client, world, role, route):
    """No team's role reviews identities: a privacy officer or an administrator included."""
    user, _ = arrange("related", role, world)
    client.force_login(user)
    method, kwargs = {**IDENTITY_REVIEWERS_ONLY, **MERGERS_ONLY}[route]
    response = getattr(client, method)(reverse(route, kwargs=kwargs))
    assert response.status_code == 404, f"{role} {route}"
    assert not AccessEvent.objects.exists()


@pytest.mark.parametrize(
    "flags",
    [{"is_staff": True}, {"global_permission": True}, {"is_superuser": True}],
    ids=["staff-only", "permissions-without-staff", "superuser-without-staff"],
)
@pytest.mark.parametrize("route", sorted(IDENTITY_REVIEWERS_ONLY) + sorted(MERGERS_ONLY))
def test_identity_pages_need_both_staff_and_the_reviewers_permissions(client, world, flags, route):
    """Deny by default: staff without the permissions, or permissions (even a superuser's)
    without staff, whose sign-in would not have asked for a second factor."""
    from django.contrib.auth.models import Permission

    user = UserFactory(
        username="flagged", is_staff=flags.get("is_staff", False),
        is_superuser=flags.get("is_superuser", False),
    )  # fmt: skip
    if flags.get("global_permission"):
        user.user_permissions.add(*Permission.objects.filter(content_type__app_label="records"))
    client.force_login(user)
    method, kwargs = {**IDENTITY_REVIEWERS_ONLY, **MERGERS_ONLY}[route]
    assert getattr(client, method)(reverse(route, kwargs=kwargs)).status_code == 404, route


@pytest.mark.parametrize("route", ["identity-queue", "identity-merges", "identity-merge-choose"])
def test_an_identity_reviewer_opens_the_identity_pages(client, world, route):
    from tests.factories import identity_reviewer

    client.force_login(identity_reviewer())
    assert client.get(reverse(route)).status_code == 200, route


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(PATIENT_ROUTES))
def test_patients_pages_are_not_found_for_every_staff_role(client, world, role, route):
    user, patient = arrange("related", role, world)
    client.force_login(user)
    method, kwargs = PATIENT_ROUTES[route]
    if "look_id" in kwargs:
        kwargs = {"look_id": a_look(patient, user).pk}
    response = getattr(client, method)(reverse(route, kwargs=kwargs))
    assert response.status_code == 404, f"{role} {route}"
    assert not Objection.objects.filter(recorded_by_patient=True).exists()


@pytest.mark.parametrize("route", sorted(PATIENT_ROUTES))
def test_patients_pages_send_a_signed_out_visitor_to_the_patients_sign_in(client, world, route):
    method, kwargs = PATIENT_ROUTES[route]
    response = getattr(client, method)(reverse(route, kwargs=kwargs))
    assert response.status_code == 302, route
    assert response["Location"].startswith(reverse("patient-sign-in") + "?next="), route


@pytest.mark.parametrize("route", sorted(PATIENT_ROUTES))
def test_a_patient_opens_their_own_pages_and_nobody_elses(client, world, route):
    _, _, patient = world
    other = PatientFactory()
    staff = UserFactory(username="looker")
    mine, theirs = a_look(patient, staff), a_look(other, staff)
    sign_in_as_patient(client, patient)
    method, kwargs = PATIENT_ROUTES[route]
    if "look_id" in kwargs:
        refused = client.get(reverse(route, kwargs={"look_id": theirs.pk}))
        assert refused.status_code == 404
        assert other.family_name not in refused.content.decode()
        kwargs = {"look_id": mine.pk}
    response = getattr(client, method)(reverse(route, kwargs=kwargs))
    assert response.status_code == ALLOWED_STATUS[method], route
    if method == "get":
        assert other.family_name not in response.content.decode()


def test_break_glass_needs_the_nhs_number_and_date_of_birth_together(client, world):
    user, patient = arrange("unrelated", "ae_clinician", world)
    client.force_login(user)
    form = {"nhs_number": patient.formatted_nhs_number, "reason": "unconscious", "explanation": "x"}

    wrong = client.post(reverse("break-glass"), {**form, "birth_date": "01/01/1901"})
    assert "No patient matches that NHS number and date of birth." in wrong.content.decode()
    assert patient.family_name.upper() not in wrong.content.decode()
    assert not BreakGlassAccess.objects.exists()

    right = client.post(
        reverse("break-glass"), {**form, "birth_date": patient.birth_date.strftime("%d/%m/%Y")}
    )
    assert right["Location"] == reverse("patient-record", kwargs={"patient_id": patient.pk})
    assert BreakGlassAccess.objects.get().patient == patient


def search_finds(client, patient) -> dict[str, bool]:
    """Whether each of the web searches, and the home page's list, shows the patient."""
    link = reverse("patient-record", kwargs={"patient_id": patient.pk})
    by_number = client.get(reverse("patient-search"), {"nhs_number": patient.nhs_number})
    by_name = client.get(
        reverse("patient-search"),
        {"family_name": patient.family_name, "birth_date": patient.birth_date.isoformat()},
    )
    home = client.get(reverse("home"))
    return {
        "nhs number": link in by_number.content.decode(),
        "name and date of birth": link in by_name.content.decode(),
        "home": link in home.content.decode(),
    }


@pytest.mark.parametrize("situation", SITUATIONS)
@pytest.mark.parametrize("role", ROLES)
def test_search_finds_only_whom_the_record_would_open(client, world, role, situation):
    """Objection-search: an objection hides the patient from both searches and the home page
    except where emergency access opens the record (and emergency access is never on the home
    page's list of the team's patients)."""
    user, patient = arrange(situation, role, world)
    client.force_login(user)
    opens = sees_record(RolePolicy.objects.get(role=role), situation)
    listed = opens and situation == "related"
    assert search_finds(client, patient) == {
        "nhs number": opens, "name and date of birth": opens, "home": listed,
    }, f"{role} {situation}"  # fmt: skip


@pytest.mark.parametrize(
    "flags",
    [{"is_staff": True}, {"is_superuser": True, "is_staff": True}, {"global_permission": True}],
    ids=["staff", "superuser", "global-permission"],
)
def test_a_staff_or_superuser_flag_or_a_global_permission_opens_no_patient(client, world, flags):
    """Staff user: no flag or Django permission stands in for a care relationship."""
    from django.contrib.auth.models import Permission

    _, _, patient = world
    arrange("related", "gp", world)  # the patient is cared for, by someone else's team
    user = UserFactory(
        username="flagged", is_staff=flags.get("is_staff", False),
        is_superuser=flags.get("is_superuser", False),
    )  # fmt: skip
    if flags.get("global_permission"):
        user.user_permissions.add(Permission.objects.get(codename="view_record"))
    client.force_login(user)

    for route, (method, _) in ROUTES.items():
        response = getattr(client, method)(address(route, patient.pk))
        assert response.status_code == 404, route
    assert search_finds(client, patient) == dict.fromkeys(
        ("nhs number", "name and date of birth", "home"), False
    )
    assert not AccessEvent.objects.exists()


@pytest.mark.parametrize("superuser", [False, True], ids=["administrator", "superuser-admin"])
def test_an_administrator_cannot_give_themselves_a_membership_and_so_opens_no_record(
    client, world, superuser
):
    """Administrator-with-self-membership: neither the teams page nor the Django admin puts an
    administrator in the team that cares for a patient; their own team's role opens nothing."""
    from access.models import Membership

    _, team, patient = world
    arrange("related", "gp", world)
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    admin = member(office, "administrator", "office-admin")
    admin.is_staff = admin.is_superuser = superuser
    admin.save()
    client.force_login(admin)

    client.post(
        reverse("manage-team-members", kwargs={"team_id": team.pk}),
        {"username": "office-admin", "role": "gp", "reason": "cover"},
    )
    if superuser:
        client.post(
            f"/admin/access/team/{team.pk}/change/",
            {
                "name": team.name, "ods_code": team.ods_code, "kind": team.kind,
                "memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "0",
                "memberships-0-user": admin.pk, "memberships-0-role": "gp",
                "memberships-0-team": team.pk,
            },
        )  # fmt: skip
    assert list(Membership.objects.filter(user=admin).values_list("team", flat=True)) == [office.pk]
    client.post(reverse("choose-team"), {"team": team.pk})  # not one of their teams: ignored

    record = client.get(reverse("patient-record", kwargs={"patient_id": patient.pk}))
    assert record.status_code == 404
    assert search_finds(client, patient) == dict.fromkeys(
        ("nhs number", "name and date of birth", "home"), False
    )


def test_an_administrator_given_a_clinical_membership_by_another_is_flagged(client, world):
    """Administrator-with-clinical-membership: possible only through a colleague, recorded with
    their name and reason, and on the privacy officers' home; acting for the office, the record
    stays closed."""
    _, team, patient = world
    arrange("related", "gp", world)
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    admin = member(office, "administrator", "office-admin")
    colleague = member(office, "administrator", "other-admin")
    services.add_member(team=team, user=admin, role="gp", reason="locum", actor=colleague)
    client.force_login(admin)
    client.post(reverse("choose-team"), {"team": office.pk})
    assert (
        client.get(reverse("patient-record", kwargs={"patient_id": patient.pk})).status_code == 404
    )

    client.force_login(member(office, "privacy_officer", "po"))
    home = client.get(reverse("home")).content.decode()
    assert "Administrators who can also open records" in home and "office-admin" in home


# Sensitivity as a dimension: for each role that opens records x each sensitivity x each basis
# the role can look on, a sensitive item in a heading the role sees is shown, or withheld and
# counted. The answer is read from the role policy's data, as the product reads it.
SENSITIVITIES = (
    "sexual_health", "termination", "assisted_conception", "gender_identity", "safeguarding",
    "mental_health", "substance_misuse", "restricted",
)  # fmt: skip
BASES = {
    "relationship": ("gp", "practice_nurse", "ae_clinician", "community_nurse",
                     "mental_health_clinician", "social_worker"),
    "break_glass": ("ae_clinician",),
}  # fmt: skip
SENSITIVE_CASES = [
    (role, sensitivity, basis)
    for basis, roles in BASES.items()
    for role in roles
    for sensitivity in SENSITIVITIES
]
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def sensitive_resource(sensitivity: str, resource_id: str) -> dict:
    """A referral marked `sensitivity` the way a source would mark it: by a code of the table's
    sets in its reason (or, for a label, in meta.security), or labelled restricted."""
    from access.models import SensitiveCode

    resource = {"resourceType": "ServiceRequest", "id": resource_id, "status": "active"}
    if sensitivity == "restricted":
        resource["meta"] = {"security": [{"system": CONFIDENTIALITY, "code": "R"}]}
        return resource
    code = SensitiveCode.objects.filter(code_set__sensitivity=sensitivity).order_by("pk").first()
    if code.system == ACT_CODE or code.system.endswith("/v3/ActCode"):
        resource["meta"] = {"security": [{"system": code.system, "code": code.code}]}
    else:
        resource["reasonCode"] = [{"coding": [{"system": code.system, "code": code.code}]}]
    return resource


def policy_shows(policy: RolePolicy, sensitivity: str, basis: str) -> bool:
    """The policy's data, read as docs/access.md says: its list, mental health content with
    mental health services' data, and the emergency list under emergency access."""
    return (
        sensitivity in policy.sensitivities
        or (sensitivity == "mental_health" and policy.sees_sensitive_sources)
        or (basis == "break_glass" and sensitivity in policy.sensitivities_in_emergency)
    )


def sensitive_referral_at_the_gp(patient, sensitivity):
    from tests.test_record_page import answered, item, linked

    link = linked(patient, "Mile End Surgery GP", kind="gp_practice")
    referral = item(
        "ServiceRequest", 1, "Referral to Harbour Clinic",
        resource=sensitive_resource(sensitivity, "ServiceRequest-1"),
    )  # fmt: skip
    plain = item(
        "ServiceRequest", 2, "Referral to physiotherapy",
        resource={"resourceType": "ServiceRequest", "id": "ServiceRequest-2", "status": "active"},
    )  # fmt: skip
    answered(link, {"referrals": [referral, plain]})


@pytest.mark.parametrize(("role", "sensitivity", "basis"), SENSITIVE_CASES)
def test_sensitive_items_are_shown_or_withheld_and_counted_by_role_sensitivity_and_basis(
    client, world, role, sensitivity, basis
):
    user, patient = arrange("related" if basis == "relationship" else "break_glass", role, world)
    sensitive_referral_at_the_gp(patient, sensitivity)
    client.force_login(user)
    policy = RolePolicy.objects.get(role=role)

    response = client.get(reverse("patient-record", kwargs={"patient_id": patient.pk}))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Referral to physiotherapy" in page
    shown = policy_shows(policy, sensitivity, basis)
    assert ("Referral to Harbour Clinic" in page) is shown, f"{role} {sensitivity} {basis}"
    assert ("1 item withheld because it is sensitive" in page) is not shown
    assert ("Sensitive: shown under emergency access" in page) is (shown and basis == "break_glass")
    event = AccessEvent.objects.get()
    assert any(i.endswith("/ServiceRequest-1") for i in event.resource_ids) is shown


def test_the_seeded_policy_opens_sensitive_content_as_docs_access_md_says(db):
    policies = {p.role: p for p in RolePolicy.objects.all()}
    gp, ae, social = policies["gp"], policies["ae_clinician"], policies["social_worker"]
    assert all(policy_shows(gp, s, "relationship") for s in SENSITIVITIES)
    assert not policy_shows(ae, "sexual_health", "relationship")
    assert policy_shows(ae, "sexual_health", "break_glass")
    assert [s for s in SENSITIVITIES if policy_shows(social, s, "relationship")] == ["safeguarding"]
