"""Administering people is not seeing patients: memberships of teams are added and ended only
through the access services (the administrators' pages, with a reason, in the change history),
never by the person themselves and never in the Django admin; privacy officers see every change,
and any administrator who can also open records."""

import pytest
from auditlog.models import LogEntry
from django.contrib import admin
from django.urls import reverse

from access import services
from access.exceptions import MembershipError
from access.models import (
    Membership,
    PatientGroupObjectPermission,
    PatientUserObjectPermission,
    Role,
    Team,
)
from access.policy import actor_for, decide
from access.selectors import administrators_who_see_records, membership_changes
from tests.factories import PatientFactory, UserFactory, make_team, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def office():
    return make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")


@pytest.fixture
def practice():
    """A GP practice caring for one patient."""
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    patient = PatientFactory()
    services.start_relationship(
        patient=patient, team=team, kind="registered_gp", reason="registered",
        actor=UserFactory(username="registrar"),
    )  # fmt: skip
    return team, patient


@pytest.fixture
def administrator(office):
    return member(office, Role.ADMINISTRATOR, "office-admin")


def test_nobody_adds_themselves_to_a_team_and_so_opens_no_record(administrator, practice):
    team, patient = practice

    with pytest.raises(MembershipError, match="Nobody adds themselves"):
        services.add_member(
            team=team, user=administrator, role=Role.GP, reason="cover", actor=administrator
        )

    assert not Membership.objects.filter(user=administrator, team=team).exists()
    assert not decide(actor_for(administrator, team.pk), patient).allowed


def test_nobody_changes_their_own_role_or_ends_their_own_membership(administrator, office):
    own = Membership.objects.get(user=administrator)
    with pytest.raises(MembershipError):
        services.add_member(
            team=office, user=administrator, role=Role.GP, reason="x", actor=administrator
        )
    with pytest.raises(MembershipError, match="own memberships"):
        services.end_membership(membership=own, reason="leaving", actor=administrator)
    assert Membership.objects.get(pk=own.pk).role == Role.ADMINISTRATOR


def test_a_membership_needs_a_reason_and_a_known_role(administrator, practice):
    team, _ = practice
    gp = UserFactory(username="dr-new")
    with pytest.raises(MembershipError, match="Say why"):
        services.add_member(team=team, user=gp, role=Role.GP, reason="  ", actor=administrator)
    with pytest.raises(MembershipError, match="Unknown role"):
        services.add_member(team=team, user=gp, role="surgeon", reason="x", actor=administrator)
    added = services.add_member(
        team=team, user=gp, role=Role.GP, reason="joined", actor=administrator
    )
    with pytest.raises(MembershipError, match="Say why"):
        services.end_membership(membership=added, reason="", actor=administrator)
    assert not Membership.objects.filter(user=gp, role="surgeon").exists()


def test_each_change_is_in_the_change_history_with_its_actor_and_reason(administrator, practice):
    team, patient = practice
    gp = UserFactory(username="dr-new")

    membership = services.add_member(
        team=team, user=gp, role=Role.PRACTICE_NURSE, reason="started Monday", actor=administrator
    )
    services.add_member(team=team, user=gp, role=Role.GP, reason="qualified", actor=administrator)
    assert decide(actor_for(gp), patient).allowed
    assert gp.groups.filter(pk=team.group_id).exists()
    services.end_membership(membership=membership, reason="moved away", actor=administrator)

    assert not decide(actor_for(gp), patient).allowed
    assert not gp.groups.filter(pk=team.group_id).exists()
    entries = LogEntry.objects.get_for_model(Membership).filter(object_id=membership.pk)
    entries = entries.order_by("timestamp", "pk")
    assert [(e.action, e.actor, e.additional_data) for e in entries] == [
        (LogEntry.Action.CREATE, administrator, {"reason": "started Monday"}),
        (LogEntry.Action.UPDATE, administrator, {"reason": "qualified"}),
        (LogEntry.Action.DELETE, administrator, {"reason": "moved away"}),
    ]
    changes = membership_changes()[:3]
    assert [(c.action, c.actor, c.reason) for c in changes] == [
        ("ended", "office-admin", "moved away"),
        ("role changed", "office-admin", "qualified"),
        ("added", "office-admin", "started Monday"),
    ]
    assert (changes[1].role_before, changes[1].role_after) == ("Practice nurse", "GP")


def test_an_administrator_adds_and_ends_a_membership_on_the_teams_page(
    client, administrator, practice
):
    team, _ = practice
    UserFactory(username="dr-new")
    client.force_login(administrator)
    page = reverse("manage-team-members", kwargs={"team_id": team.pk})

    assert team.name in client.get(reverse("manage-teams")).content.decode()
    added = client.post(page, {"username": "dr-new", "role": Role.GP, "reason": "new partner"})
    assert added.status_code == 302
    membership = Membership.objects.get(user__username="dr-new", team=team)
    assert "dr-new" in client.get(page).content.decode()

    ended = client.post(
        reverse("manage-end-membership", kwargs={"membership_id": membership.pk}),
        {"reason": "retired"},
    )
    assert ended["Location"] == page
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_the_teams_page_refuses_an_administrator_adding_themselves_and_says_why(
    client, administrator, practice
):
    team, patient = practice
    client.force_login(administrator)
    page = reverse("manage-team-members", kwargs={"team_id": team.pk})

    refused = client.post(page, {"username": "office-admin", "role": Role.GP, "reason": "cover"})

    assert refused.status_code == 200
    assert "Nobody adds themselves" in refused.content.decode()
    assert not Membership.objects.filter(user=administrator, team=team).exists()
    client.post(reverse("choose-team"), {"team": team.pk})
    record = reverse("patient-record", kwargs={"patient_id": patient.pk})
    assert client.get(record).status_code == 404


def test_the_teams_pages_are_for_administrators_only(client, practice):
    team, _ = practice
    gp = member(team, Role.GP, "gp")
    client.force_login(gp)
    page = reverse("manage-team-members", kwargs={"team_id": team.pk})
    assert client.get(reverse("manage-teams")).status_code == 404
    assert client.post(page, {"username": "gp", "role": Role.GP, "reason": "x"}).status_code == 404
    assert Membership.objects.get(user=gp).role == Role.GP


def test_the_django_admin_cannot_add_a_membership_to_a_team(client, practice):
    """The outside attack's way in: a membership row added in the team's admin page."""
    team, patient = practice
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(superuser)
    url = f"/admin/access/team/{team.pk}/change/"
    form = client.get(url).content.decode()
    assert 'name="memberships-MAX_NUM_FORMS" value="0"' in form  # no row can be added

    client.post(
        url,
        {
            "name": team.name, "ods_code": team.ods_code, "kind": team.kind,
            "memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": superuser.pk, "memberships-0-role": Role.GP,
            "memberships-0-team": team.pk,
        },
    )  # fmt: skip

    assert not Membership.objects.filter(user=superuser).exists()
    assert not decide(actor_for(superuser, team.pk), patient).allowed


def test_the_django_admin_leaves_memberships_grants_and_groups_read_only(client):
    from guardian.models import GroupObjectPermission, UserObjectPermission

    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(superuser)
    request = type("Request", (), {"user": superuser})()
    for model in (
        Membership,
        PatientUserObjectPermission,
        PatientGroupObjectPermission,
        UserObjectPermission,
        GroupObjectPermission,
    ):
        model_admin = admin.site._registry.get(model)
        assert model_admin is None or not (
            model_admin.has_add_permission(request) or model_admin.has_change_permission(request)
        ), model
    page = client.get(f"/admin/auth/user/{superuser.pk}/change/").content.decode()
    assert 'name="groups"' not in page


def test_the_django_admin_shows_the_register_without_letting_it_be_changed(client):
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(superuser)
    patient = PatientFactory(family_name="Okafor")

    page = client.get(f"/admin/records/patient/{patient.pk}/change/").content.decode()
    assert 'name="family_name"' not in page
    client.post(f"/admin/records/patient/{patient.pk}/change/", {"family_name": "Changed"})
    assert client.get("/admin/records/patient/add/").status_code == 403
    patient.refresh_from_db()
    assert patient.family_name == "Okafor"


def test_privacy_officers_see_membership_changes_and_administrators_who_see_records(
    client, administrator, office, practice
):
    team, _ = practice
    colleague = member(office, Role.ADMINISTRATOR, "second-admin")
    services.add_member(
        team=team, user=colleague, role=Role.GP, reason="also a GP here", actor=administrator
    )
    officer = member(office, Role.PRIVACY_OFFICER, "po")
    client.force_login(officer)

    home = client.get(reverse("home")).content.decode()
    assert "Administrators who can also open records" in home
    assert "second-admin" in home and "GP, Mile End Surgery" in home
    assert "office-admin</strong>" not in home  # administers, but opens no record
    changes = client.get(reverse("audit-membership-changes")).content.decode()
    assert "also a GP here" in changes and "office-admin" in changes
    assert [f.username for f in administrators_who_see_records()] == ["second-admin"]


def test_a_staff_user_with_a_clinical_membership_is_flagged_too(practice):
    team, _ = practice
    gp = member(team, Role.GP, "gp-with-admin-rights")
    gp.is_staff = True
    gp.save()
    (flagged,) = administrators_who_see_records()
    assert (flagged.username, flagged.administers, flagged.clinical) == (
        "gp-with-admin-rights", "staff", ["GP, Mile End Surgery"],
    )  # fmt: skip


@pytest.mark.parametrize("flagged", [1, 10])
def test_the_privacy_officers_home_flags_administrators_in_bounded_queries(
    client, office, practice, flagged, django_assert_max_num_queries
):
    team, _ = practice
    setup = UserFactory(username="setup-admin")
    for n in range(flagged):
        services.add_member(
            team=team, user=member(office, Role.ADMINISTRATOR, f"admin-{n}"), role=Role.GP,
            reason="also a GP", actor=setup,
        )  # fmt: skip
    client.force_login(member(office, Role.PRIVACY_OFFICER, "po"))

    # Sixteen, for 1 flagged or 10: the page as for any privacy officer, three for the flags
    # (the role policies, the users, their memberships with teams) and four for the week's
    # alerts (one grouped query of each kind).
    with django_assert_max_num_queries(16):
        home = client.get(reverse("home")).content.decode()
    assert all(f"admin-{n}</strong>" in home for n in range(flagged))
