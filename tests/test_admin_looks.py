"""Every page of the Django admin that shows who a patient is writes an access event for each
patient it shows (on the basis of administration), as any look does, and is not shown if it
cannot; the pages that need no patient (the access events, the change history, the queue of
source records) name none."""

import pytest
from auditlog.models import LogEntry as AuditLogEntry
from django.db import DatabaseError

from access import services as access_services
from access.models import AccessBasis, Role, Team
from audit.models import AccessEvent
from records import services
from records.matching import Demographics
from records.models import UnmatchedRecord
from tests.factories import (
    LinkFactory,
    PatientFactory,
    SourceSystemFactory,
    UserFactory,
    make_team,
    member,
    merged,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    """The identity reviewer: a staff user in no team, with the register's view permissions."""
    from django.contrib.auth.models import Permission

    user = UserFactory(username="identity-reviewer", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=["records", "access", "audit", "auditlog"],
            codename__startswith="view_",
        )
    )
    client.force_login(user)
    return client, user


def looks(user) -> list[tuple[int, str]]:
    return sorted(AccessEvent.objects.filter(user=user).values_list("patient_id", "basis"))


def names(page: str, patient) -> bool:
    return any(
        shown in page
        for shown in (patient.nhs_number, patient.formatted_nhs_number, patient.family_name)
    )


def candidate_for(patient, reviewer):
    record = services.queue_unmatched(
        source=SourceSystemFactory(),
        local_id="LAS-1",
        demographics=Demographics("Jon", patient.family_name, patient.birth_date, patient.postcode),
        reason=UnmatchedRecord.Reason.NO_NHS_NUMBER,
        actor=reviewer,
    )
    return record, record.candidates.get()


def test_the_patient_list_records_a_look_at_every_patient_it_shows(staff):
    client, user = staff
    patients = [PatientFactory() for _ in range(3)]

    page = client.get("/admin/records/patient/").content.decode()

    assert all(names(page, p) for p in patients)
    assert looks(user) == sorted((p.pk, AccessBasis.ADMINISTRATION) for p in patients)


def test_a_patient_page_records_one_look(staff):
    client, user = staff
    link = LinkFactory()

    for suffix in ("change/", "history/"):
        response = client.get(f"/admin/records/patient/{link.patient.pk}/{suffix}")
        assert response.status_code == 200
    assert looks(user) == [(link.patient.pk, "administration")] * 2


@pytest.mark.parametrize("path", ["/admin/records/link/", "/admin/records/link/{link}/change/"])
def test_links_record_a_look_at_their_patients(staff, path):
    client, user = staff
    link = LinkFactory()
    assert client.get(path.format(link=link.pk)).status_code == 200
    assert looks(user) == [(link.patient.pk, "administration")]


def test_unlinking_in_the_admin_records_a_look_and_leaves_no_name_in_recent_actions(client):
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(superuser)
    link = LinkFactory()
    patient = link.patient

    assert client.get(f"/admin/records/link/{link.pk}/delete/").status_code == 200
    client.post(f"/admin/records/link/{link.pk}/delete/", {"post": "yes"})

    assert looks(superuser) == [(patient.pk, "administration")]
    client.get("/admin/")  # the message saying which link went, once
    assert not names(client.get("/admin/").content.decode(), patient)


def test_candidates_record_a_look_at_each_register_patient_they_name(staff, reviewer):
    client, user = staff
    patient = PatientFactory()
    record, _ = candidate_for(patient, reviewer)

    listed = client.get("/admin/records/matchcandidate/").content.decode()
    assert names(listed, patient)
    assert looks(user) == [(patient.pk, "administration")]
    client.get(f"/admin/records/unmatchedrecord/{record.pk}/change/")
    assert looks(user) == [(patient.pk, "administration")] * 2


def test_the_list_of_source_records_waiting_for_review_names_nobody(staff, reviewer):
    client, user = staff
    patient = PatientFactory(family_name="Okafor")
    candidate_for(patient, reviewer)

    page = client.get("/admin/records/unmatchedrecord/").content.decode()

    assert "LAS-1" in page and "Okafor" not in page and "Jon" not in page
    assert looks(user) == []


def test_merges_relationships_objections_and_emergency_accesses_record_their_patients(
    staff, admin_user
):
    client, user = staff
    kept, retired, cared, objecting, urgent = (PatientFactory() for _ in range(5))
    merged(kept, retired, actor=admin_user)
    team = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    access_services.start_relationship(
        patient=cared, team=team, kind="referral", reason="r", actor=admin_user
    )
    access_services.record_objection(patient=objecting, notes="asked", actor=admin_user)
    doctor = member(team, Role.AE_CLINICIAN, "doctor")
    access_services.break_glass(
        user=doctor, team=team, patient=urgent, reason="unconscious", explanation="x"
    )

    for path in ("records/patientmerge", "access/carerelationship", "access/objection",
                 "access/breakglassaccess"):  # fmt: skip
        assert client.get(f"/admin/{path}/").status_code == 200, path

    shown = {patient for patient, _ in looks(user)}
    assert shown == {kept.pk, retired.pk, cared.pk, objecting.pk, urgent.pk}


def test_the_access_events_and_the_change_history_in_the_admin_name_no_patient(staff, admin_user):
    client, user = staff
    patient = PatientFactory(family_name="Okafor")  # its creation is in the change history
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    access_services.start_relationship(
        patient=patient, team=team, kind="registered_gp", reason="r", actor=admin_user
    )
    gp_client = type(client)()
    gp_client.force_login(member(team, Role.GP, "dr-jones"))
    assert gp_client.get(f"/patients/{patient.pk}/").status_code == 200
    event = AccessEvent.objects.get()

    events = client.get("/admin/audit/accessevent/").content.decode()
    one = client.get(f"/admin/audit/accessevent/{event.pk}/change/").content.decode()
    history = client.get("/admin/auditlog/logentry/").content.decode()

    assert "dr-jones" in events and "dr-jones" in one and "Mile End Surgery" in history
    assert not any(names(page, patient) for page in (events, one, history))
    assert looks(user) == []


def test_an_admin_page_whose_looks_cannot_be_recorded_is_not_shown(staff, monkeypatch):
    client, _ = staff
    patient = PatientFactory(family_name="Okafor")

    def broken(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr("audit.services.record_access", broken)
    response = client.get("/admin/records/patient/")

    assert response.status_code == 503
    assert not names(response.content.decode(), patient)


def test_the_change_history_in_the_admin_leaves_out_free_text_that_may_name_a_patient(
    staff, admin_user
):
    client, user = staff
    team = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    cared, objecting, urgent = (PatientFactory() for _ in range(3))
    access_services.start_relationship(
        patient=cared, team=team, kind="referral", reason="Mrs Okafor's leg ulcer", actor=admin_user
    )
    access_services.record_objection(patient=objecting, notes="Mr Adeyemi phoned", actor=admin_user)
    doctor = member(team, Role.AE_CLINICIAN, "doctor")
    access_services.break_glass(
        user=doctor, team=team, patient=urgent, reason="unconscious", explanation="Ms Brown, RTC"
    )
    entries = AuditLogEntry.objects.filter(content_type__app_label="access")
    shown = [client.get(f"/admin/auditlog/logentry/{entry.pk}/change/") for entry in entries]
    history = client.get("/admin/auditlog/logentry/").content.decode()

    assert "Thameside A&amp;E" in history
    for words in ("Okafor", "Adeyemi", "Brown"):
        assert words not in history
        assert not any(words in page.content.decode() for page in shown)
    assert looks(user) == []
