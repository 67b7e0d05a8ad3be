"""Care relationships, guardian grants, the role policy, break-glass and objections."""

import datetime

import pytest
import time_machine
from django.core import mail

from access import services
from access.exceptions import AccessDenied, EmergencyAccessError, RelationshipError
from access.models import (
    BreakGlassAccess,
    CareRelationship,
    Membership,
    PatientGroupObjectPermission,
    PatientUserObjectPermission,
    Role,
    RolePolicy,
    Team,
)
from access.policy import actor_for, decide
from records.categories import ALL_CATEGORIES
from tests.factories import PatientFactory, UserFactory, make_team, member

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 11, 25)


@pytest.fixture(autouse=True)
def fixed_day():
    with time_machine.travel(datetime.datetime(2026, 11, 25, 10, 0, tzinfo=datetime.UTC)):
        yield


@pytest.fixture
def admin_user():
    return UserFactory(username="relationship-admin")


@pytest.fixture
def ward():
    team = make_team("Riverside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    return team, member(team, Role.AE_CLINICIAN, "doctor")


def grants(patient) -> set:
    return {
        ("group", row.group_id)
        for row in PatientGroupObjectPermission.objects.filter(content_object=patient)
    } | {
        ("user", row.user_id)
        for row in PatientUserObjectPermission.objects.filter(content_object=patient)
    }


def relate(patient, team, admin_user, **kwargs):
    return services.start_relationship(
        patient=patient,
        team=team,
        kind="current_episode",
        reason="attending",
        actor=admin_user,
        **kwargs,
    )


def test_starting_a_relationship_grants_the_team_and_ending_it_revokes(ward, admin_user):
    team, doctor = ward
    patient = PatientFactory()
    relationship = relate(patient, team, admin_user)

    assert grants(patient) == {("group", team.group_id)}
    assert decide(actor_for(doctor), patient).allowed
    assert doctor.has_perm("records.view_record", patient)

    services.end_relationship(relationship=relationship, reason="discharged", actor=admin_user)

    assert grants(patient) == set()
    assert decide(actor_for(doctor), patient).why_not == "no care relationship"


def test_ending_one_of_two_relationships_keeps_access(ward, admin_user):
    team, doctor = ward
    patient = PatientFactory()
    first = relate(patient, team, admin_user)
    # (A second of the same kind would be the first again, and refused: another kind.)
    services.start_relationship(
        patient=patient, team=team, kind="referral", reason="referred", actor=admin_user
    )
    services.end_relationship(relationship=first, reason="episode over", actor=admin_user)
    assert decide(actor_for(doctor), patient).allowed


def test_a_relationship_with_one_person_grants_only_them(admin_user):
    team = make_team("Riverside Social Care", Team.Kind.SOCIAL_CARE_TEAM, ods_code="LBR")
    worker, colleague = (
        member(team, Role.SOCIAL_WORKER, "sw1"),
        member(team, Role.SOCIAL_WORKER, "sw2"),
    )
    patient = PatientFactory()
    services.start_relationship(
        patient=patient, user=worker, kind="social_care_case", reason="allocated", actor=admin_user
    )
    assert grants(patient) == {("user", worker.pk)}
    assert decide(actor_for(worker), patient).allowed
    assert not decide(actor_for(colleague), patient).allowed


def test_expiry_is_enforced_before_the_periodic_task_runs(ward, admin_user):
    team, doctor = ward
    patient = PatientFactory()
    relate(patient, team, admin_user, ends_on=TODAY)
    assert decide(actor_for(doctor), patient).allowed

    with time_machine.travel(datetime.datetime(2026, 11, 26, 9, 0, tzinfo=datetime.UTC)):
        assert grants(patient) == {("group", team.group_id)}  # the task has not run yet
        assert decide(actor_for(doctor), patient).why_not == "no care relationship"
        assert services.end_expired_relationships() == 1
        assert grants(patient) == set()


def test_a_future_relationship_grants_on_its_start_day(ward, admin_user):
    team, doctor = ward
    patient = PatientFactory()
    relate(patient, team, admin_user, starts_on=TODAY + datetime.timedelta(days=1))
    assert grants(patient) == set()
    assert not decide(actor_for(doctor), patient).allowed

    with time_machine.travel(datetime.datetime(2026, 11, 26, 9, 0, tzinfo=datetime.UTC)):
        assert services.start_due_relationships() == 1
        assert decide(actor_for(doctor), patient).allowed


def test_a_grant_made_by_hand_opens_nothing_and_is_removed(ward):
    from guardian.shortcuts import assign_perm

    team, doctor = ward
    patient = PatientFactory()
    assign_perm("records.view_record", team.group, patient)  # what no code path may do

    assert not decide(actor_for(doctor), patient).allowed  # no relationship explains it
    assert services.reconcile_grants() == {"removed": 1, "added": 0}
    assert grants(patient) == set()


def test_a_global_permission_or_superuser_sees_nobody(ward):
    from django.contrib.auth.models import Permission

    _, doctor = ward
    doctor.is_superuser = True
    doctor.save()
    doctor.user_permissions.add(Permission.objects.get(codename="view_record"))
    assert not decide(actor_for(doctor), PatientFactory()).allowed


@pytest.mark.parametrize(
    ("reason", "kwargs"),
    [
        ("with a team or with one person", {"team": None}),
        ("Say why", {"reason": "  "}),
        (
            "cannot end before it starts",
            {
                "ends_on": TODAY - datetime.timedelta(days=3),
                "starts_on": TODAY - datetime.timedelta(days=1),
            },
        ),
        (
            "already ended",
            {
                "ends_on": TODAY - datetime.timedelta(days=1),
                "starts_on": TODAY - datetime.timedelta(days=9),
            },
        ),
    ],
)
def test_a_relationship_that_makes_no_sense_is_refused(ward, admin_user, reason, kwargs):
    team, _ = ward
    arguments = {
        "patient": PatientFactory(),
        "team": team,
        "kind": "referral",
        "reason": "r",
        "actor": admin_user,
    }
    with pytest.raises(RelationshipError, match=reason):
        services.start_relationship(**{**arguments, **kwargs})
    assert not CareRelationship.objects.exists()


@pytest.mark.parametrize(
    ("role", "sees", "hidden"),
    [
        (
            Role.SOCIAL_WORKER,
            {"care_plans", "flags", "appointments"},
            {"test_results", "medicines"},
        ),
        (Role.AE_CLINICIAN, set(ALL_CATEGORIES), set()),
        (Role.PRACTICE_NURSE, {"test_results"}, {"documents"}),
    ],
)
def test_each_role_sees_the_headings_its_policy_allows(admin_user, role, sees, hidden):
    team = make_team("Team", Team.Kind.COMMUNITY_TEAM)
    user = member(team, role)
    patient = PatientFactory()
    relate(patient, team, admin_user)
    decision = decide(actor_for(user), patient)
    assert sees <= set(decision.categories)
    assert not hidden & set(decision.categories)
    assert set(decision.denied_categories) == set(ALL_CATEGORIES) - set(decision.categories)


@pytest.mark.parametrize("role", [Role.ADMINISTRATOR, Role.PRIVACY_OFFICER])
def test_administrators_and_privacy_officers_see_no_clinical_data(admin_user, role):
    team = make_team("Office", Team.Kind.RECORD_OFFICE)
    user = member(team, role)
    patient = PatientFactory()
    relate(patient, team, admin_user)
    assert decide(actor_for(user), patient).why_not == "this role sees no clinical records"


def test_a_relationship_with_one_person_without_its_grant_opens_nothing(admin_user):
    team = make_team("Riverside Social Care", Team.Kind.SOCIAL_CARE_TEAM, ods_code="LBR")
    worker = member(team, Role.SOCIAL_WORKER, "sw1")
    patient = PatientFactory()
    services.start_relationship(
        patient=patient, user=worker, kind="social_care_case", reason="allocated", actor=admin_user
    )
    PatientUserObjectPermission.objects.all().delete()  # lost, somehow

    decision = decide(actor_for(worker), patient)
    assert (decision.allowed, decision.why_not) == (False, "no care relationship")


def test_emergency_access_opens_the_record_only_for_the_team_it_was_used_for(admin_user):
    ae = make_team("A&E", Team.Kind.AE_DEPARTMENT, ods_code="A")
    other = make_team("Minor injuries", Team.Kind.AE_DEPARTMENT, ods_code="B")
    user = member(ae, Role.AE_CLINICIAN, "both")
    services.add_member(team=other, user=user, role=Role.AE_CLINICIAN, reason="r", actor=admin_user)
    patient = PatientFactory()
    services.break_glass(
        user=user, team=ae, patient=patient, reason="unconscious", explanation="collapsed"
    )

    assert decide(actor_for(user, ae.pk), patient).basis == "break_glass"
    assert not decide(actor_for(user, other.pk), patient).allowed


def test_a_role_whose_policy_is_gone_sees_nothing(ward, admin_user):
    team, doctor = ward
    patient = PatientFactory()
    relate(patient, team, admin_user)
    assert actor_for(doctor).policy.role == Role.AE_CLINICIAN  # read with the membership
    assert decide(actor_for(doctor), patient).allowed

    RolePolicy.objects.filter(role=Role.AE_CLINICIAN).delete()
    actor = actor_for(doctor)
    assert (actor.team, actor.policy) == (team, None)
    assert decide(actor, patient).why_not == "this role sees no clinical records"


def test_a_membership_is_saved_audited_and_restored_without_its_role_policy(ward):
    """The policy is joined by role, not stored: fixtures and the change history leave it out."""
    import json

    from auditlog.models import LogEntry
    from django.core import serializers

    team, doctor = ward
    membership = Membership.objects.get(user=doctor, team=team)
    written = serializers.serialize("json", [membership])
    assert "policy" not in json.loads(written)[0]["fields"]
    for restored in serializers.deserialize("json", written):
        restored.save()
    assert Membership.objects.select_related("policy").get(pk=membership.pk).policy.role == (
        Role.AE_CLINICIAN
    )
    changes = [entry.changes_dict for entry in LogEntry.objects.get_for_object(membership)]
    assert any("role" in c for c in changes)
    assert not any("policy" in c for c in changes)


def test_acting_for_another_team_does_not_carry_its_relationships(admin_user):
    ae = make_team("A&E", Team.Kind.AE_DEPARTMENT, ods_code="A")
    clinic = make_team("Clinic", Team.Kind.COMMUNITY_TEAM, ods_code="B")
    user = member(ae, Role.AE_CLINICIAN, "both")
    services.add_member(
        team=clinic, user=user, role=Role.COMMUNITY_NURSE, reason="r", actor=admin_user
    )
    patient = PatientFactory()
    relate(patient, clinic, admin_user)

    assert actor_for(user).team is None  # two teams: they must choose
    assert not decide(actor_for(user, ae.pk), patient).allowed
    assert decide(actor_for(user, clinic.pk), patient).allowed


def test_break_glass_opens_the_record_for_four_hours_and_tells_the_privacy_officers(ward, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    team, doctor = ward
    office = make_team("Privacy", Team.Kind.RECORD_OFFICE, ods_code="P")
    officer = member(office, Role.PRIVACY_OFFICER, "officer")
    officer.email = "officer@example.org"
    officer.save()
    patient = PatientFactory()

    with pytest.raises(EmergencyAccessError, match="Say why"):
        services.break_glass(
            user=doctor, team=team, patient=patient, reason="unconscious", explanation=" "
        )
    with django_capture_on_commit():
        access = services.break_glass(
            user=doctor,
            team=team,
            patient=patient,
            reason="unconscious",
            explanation="collapsed in ED",
        )

    decision = decide(actor_for(doctor), patient)
    assert (decision.allowed, decision.basis, decision.break_glass_id) == (
        True,
        "break_glass",
        access.pk,
    )
    assert decision.break_glass_expires_at == access.expires_at
    assert access.expires_at - access.started_at == datetime.timedelta(hours=4)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["officer@example.org"]
    assert patient.family_name not in mail.outbox[0].body
    with time_machine.travel(access.expires_at + datetime.timedelta(seconds=1)):
        assert not decide(actor_for(doctor), patient).allowed


def django_capture_on_commit():
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)


def test_only_roles_allowed_to_may_break_glass(admin_user):
    team = make_team("Social care", Team.Kind.SOCIAL_CARE_TEAM)
    worker = member(team, Role.SOCIAL_WORKER)
    with pytest.raises(AccessDenied, match="cannot use emergency access"):
        services.break_glass(
            user=worker, team=team, patient=PatientFactory(), reason="other", explanation="x"
        )
    assert not BreakGlassAccess.objects.exists()


def test_only_privacy_officers_review_break_glass_and_never_their_own(ward, admin_user):
    team, doctor = ward
    access = services.break_glass(
        user=doctor, team=team, patient=PatientFactory(), reason="other", explanation="needed it"
    )
    with pytest.raises(AccessDenied, match="Only privacy officers"):
        services.review_break_glass(
            access=access, outcome="approved", note="", actor=actor_for(UserFactory())
        )
    office = make_team("Privacy", Team.Kind.RECORD_OFFICE, ods_code="P")
    services.add_member(
        team=office, user=doctor, role=Role.PRIVACY_OFFICER, reason="r", actor=admin_user
    )
    with pytest.raises(AccessDenied, match="own"):
        services.review_break_glass(
            access=access, outcome="approved", note="", actor=actor_for(doctor, office.pk)
        )

    officer = member(office, Role.PRIVACY_OFFICER, "officer")
    reviewed = services.review_break_glass(
        access=access, outcome="flagged", note="ask why", actor=actor_for(officer, office.pk)
    )
    assert reviewed.review == BreakGlassAccess.Review.FLAGGED


def test_nobody_records_a_relationship_for_themselves_or_their_own_team(ward):
    team, doctor = ward
    with pytest.raises(RelationshipError, match="themselves"):
        services.start_relationship(
            patient=PatientFactory(), user=doctor, kind="referral", reason="r", actor=doctor
        )
    with pytest.raises(RelationshipError, match="own team"):
        services.start_relationship(
            patient=PatientFactory(), team=team, kind="referral", reason="r", actor=doctor
        )


def test_my_patients_are_those_cared_for_today_with_the_grant_in_place(ward, admin_user):
    from access.selectors import my_patients

    team, doctor = ward
    other = make_team("Other", Team.Kind.COMMUNITY_TEAM, ods_code="O")
    current, ended, expired, future, elsewhere = (PatientFactory() for _ in range(5))
    relate(current, team, admin_user)
    services.end_relationship(
        relationship=relate(ended, team, admin_user), reason="x", actor=admin_user
    )
    relate(expired, team, admin_user, ends_on=TODAY)
    relate(future, team, admin_user, starts_on=TODAY + datetime.timedelta(days=2))
    relate(elsewhere, other, admin_user)

    with time_machine.travel(datetime.datetime(2026, 11, 26, 9, 0, tzinfo=datetime.UTC)):
        assert list(my_patients(actor_for(doctor))) == [current]


def test_my_patients_is_empty_for_a_role_that_sees_no_records(admin_user):
    from access.selectors import my_patients

    team = make_team("GP", Team.Kind.GP_PRACTICE, ods_code="G")
    manager = member(team, Role.ADMINISTRATOR)
    relate(PatientFactory(), team, admin_user)
    assert list(my_patients(actor_for(manager))) == []


def test_an_objection_blocks_relationships_but_not_break_glass(ward, admin_user):
    team, doctor = ward
    patient = PatientFactory()
    relate(patient, team, admin_user)
    objection = services.record_objection(
        patient=patient, notes="asked at reception", actor=admin_user
    )

    assert decide(actor_for(doctor), patient).why_not == "the patient has objected to sharing"
    services.break_glass(
        user=doctor, team=team, patient=patient, reason="unconscious", explanation="arrest"
    )
    decision = decide(actor_for(doctor), patient)
    assert (decision.allowed, decision.basis, decision.objection) == (True, "break_glass", True)

    services.withdraw_objection(objection=objection, actor=admin_user)
    BreakGlassAccess.objects.all().delete()
    assert decide(actor_for(doctor), patient).basis == "relationship"


def test_reconcile_restores_a_missing_grant(ward, admin_user):
    team, doctor = ward
    patient = PatientFactory()
    relate(patient, team, admin_user)
    PatientGroupObjectPermission.objects.all().delete()  # lost, somehow
    assert not decide(actor_for(doctor), patient).allowed

    assert services.reconcile_grants() == {"removed": 0, "added": 1}
    assert decide(actor_for(doctor), patient).allowed


def test_in_force_means_the_same_to_the_orm_to_python_and_to_sql(ward, admin_user):
    """The one rule of a relationship in force, read three ways, gives one answer on every day
    around its start, its last day and its ending."""
    from django.db import connection
    from django.utils import timezone

    from access.models import IN_FORCE_SQL

    team, _ = ward
    start, last = TODAY - datetime.timedelta(days=2), TODAY + datetime.timedelta(days=2)
    kinds = [
        {"starts_on": start, "ends_on": None},
        {"starts_on": start, "ends_on": last},
        {"starts_on": TODAY + datetime.timedelta(days=1), "ends_on": None},
        {"starts_on": start, "ends_on": start, "ended": True},
    ]
    relationships = []
    for shape in kinds:
        relationship = CareRelationship.objects.create(
            patient=PatientFactory(),
            team=team,
            kind="current_episode",
            reason="test",
            created_by=admin_user,
            starts_on=shape["starts_on"],
            ends_on=shape["ends_on"],
            ended_at=timezone.now() if shape.get("ended") else None,
        )
        relationships.append(relationship)
    ids = [r.pk for r in relationships]
    answers = set()
    for offset in range(-4, 5):
        day = TODAY + datetime.timedelta(days=offset)
        orm = set(
            CareRelationship.objects.in_force(day).filter(pk__in=ids).values_list("pk", flat=True)
        )
        python = {r.pk for r in relationships if r.in_force_on(day)}
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT r.id FROM access_carerelationship r WHERE {IN_FORCE_SQL}",  # noqa: S608
                {"today": connection.ops.adapt_datefield_value(day)},
            )
            sql = {row[0] for row in cursor.fetchall()} & set(ids)
        assert orm == python == sql, day
        answers.add(frozenset(orm))
    assert len(answers) > 2  # the days really differ: the rule was tested, not one answer


def test_a_privacy_officer_acting_as_a_gp_for_another_team_is_a_gp(ward, admin_user):
    """Privacy officer is the role acted in now, not any membership: acting for the practice, the
    audit pages and the review are refused, as the look would be recorded under the GP role."""
    from access.policy import reviews_break_glass

    team, doctor = ward
    access = services.break_glass(
        user=doctor, team=team, patient=PatientFactory(), reason="other", explanation="needed it"
    )
    office = make_team("Privacy", Team.Kind.RECORD_OFFICE, ods_code="P")
    practice = make_team("Practice", Team.Kind.GP_PRACTICE, ods_code="G")
    both = member(office, Role.PRIVACY_OFFICER, "both")
    services.add_member(team=practice, user=both, role=Role.GP, reason="r", actor=admin_user)

    assert reviews_break_glass(actor_for(both, office.pk))
    assert not reviews_break_glass(actor_for(both, practice.pk))
    with pytest.raises(AccessDenied, match="Only privacy officers"):
        services.review_break_glass(
            access=access, outcome="approved", note="", actor=actor_for(both, practice.pk)
        )
