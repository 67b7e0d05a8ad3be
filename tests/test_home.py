"""The home page: my patients, recently viewed, the privacy officer's queue, in bounded queries."""

import datetime
import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from access import services
from access.models import CareRelationship, Role, Team
from tests.factories import PatientFactory, UserFactory, make_team, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    return make_team("Riverside Social Care", Team.Kind.SOCIAL_CARE_TEAM, ods_code="LBR")


@pytest.fixture
def office():
    return UserFactory(username="office")


def care_for(team, patients, office):
    return [
        services.start_relationship(
            patient=p, team=team, kind="social_care_case", reason="open case", actor=office
        )
        for p in patients
    ]


def look(client, patient):
    response = client.get(reverse("patient-record", kwargs={"patient_id": patient.pk}))
    assert response.status_code == 200


def recent_section(page: str) -> str:
    start = page.index('id="recently-viewed"')
    return page[start : page.index("</section>", start)]


@pytest.mark.parametrize("count", [3, 60])
def test_home_shows_my_patients_and_recent_looks_in_bounded_queries(
    client, team, office, count, django_assert_max_num_queries
):
    worker = member(team, Role.SOCIAL_WORKER, "sw")
    patients = [PatientFactory() for _ in range(count)]
    care_for(team, patients, office)
    client.force_login(worker)
    for patient in patients[:12]:
        look(client, patient)

    # Session, user, memberships, policy, view permission id, my patients (count, page),
    # privacy role, recently viewed (events, those still visible): the same for 3 as for 60.
    # The session is not saved: activity is stamped once a minute.
    with django_assert_max_num_queries(10):
        response = client.get(reverse("home"))

    page = response.content.decode()
    listed = page[page.index('id="my-patients"') : page.index('id="recently-viewed"')]
    assert len(re.findall(r'href="/patients/\d+/"', listed)) == min(count, 50)
    assert ("Page 1 of 2" in page) == (count > 50)
    recent = recent_section(page)
    assert len(re.findall(r'href="/patients/\d+/"', recent)) == min(count, 10)
    assert patients[min(count, 12) - 1].full_name in recent  # the latest look comes first


def test_recently_viewed_lists_each_patient_once_newest_first(client, team, office):
    worker = member(team, Role.SOCIAL_WORKER, "sw")
    first, second = PatientFactory(), PatientFactory()
    care_for(team, [first, second], office)
    client.force_login(worker)
    start = timezone.now()
    for minutes, patient in [(0, first), (1, second), (2, first)]:
        with time_machine.travel(start + datetime.timedelta(minutes=minutes), tick=False):
            look(client, patient)

    recent = recent_section(client.get(reverse("home")).content.decode())
    assert recent.count(first.full_name) == 1 and recent.count(second.full_name) == 1
    assert recent.index(first.full_name) < recent.index(second.full_name)


def test_recently_viewed_leaves_out_patients_no_longer_in_my_care(client, team, office):
    worker = member(team, Role.SOCIAL_WORKER, "sw")
    kept, discharged = PatientFactory(), PatientFactory()
    relationships = care_for(team, [kept, discharged], office)
    client.force_login(worker)
    look(client, kept)
    look(client, discharged)

    services.end_relationship(relationship=relationships[1], reason="discharged", actor=office)

    recent = recent_section(client.get(reverse("home")).content.decode())
    assert kept.full_name in recent
    assert discharged.full_name not in recent


def test_emergency_access_shows_in_recently_viewed_until_it_runs_out(client, office):
    ae = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    clinician = member(ae, Role.AE_CLINICIAN, "doctor")
    patient = PatientFactory()
    access = services.break_glass(
        user=clinician, team=ae, patient=patient, reason="unconscious", explanation="RTC"
    )
    client.force_login(clinician)
    look(client, patient)
    assert patient.full_name in recent_section(client.get(reverse("home")).content.decode())

    with time_machine.travel(access.expires_at + datetime.timedelta(minutes=1)):
        client.force_login(clinician)
        page = client.get(reverse("home")).content.decode()
    assert 'id="recently-viewed"' not in page


def test_a_privacy_officer_sees_how_many_emergency_accesses_wait(client, office):
    ae = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    clinician = member(ae, Role.AE_CLINICIAN, "doctor")
    for _ in range(2):
        services.break_glass(
            user=clinician, team=ae, patient=PatientFactory(), reason="other", explanation="x"
        )
    officer = member(
        make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR"), Role.PRIVACY_OFFICER
    )
    client.force_login(officer)
    page = client.get(reverse("home")).content.decode()
    assert "<strong>2</strong> emergency accesses wait for your review." in page
    assert f'href="{reverse("audit-review-queue")}"' in page


def test_a_social_worker_sees_no_review_queue(client, team):
    client.force_login(member(team, Role.SOCIAL_WORKER, "sw"))
    page = client.get(reverse("home")).content.decode()
    assert "Emergency access to review" not in page
    assert CareRelationship.objects.count() == 0


def test_my_patients_pages_count_and_order_as_my_patients_does(team, office):
    """The home page's list is counted from relationships and paged from the name index: it must
    give my_patients' patients, count and order, whatever state each relationship is in."""
    from guardian.shortcuts import assign_perm, remove_perm

    from access.policy import actor_for
    from access.selectors import my_patients, my_patients_page

    worker = member(team, Role.SOCIAL_WORKER, "sw")
    other = make_team("Bow Social Care", Team.Kind.SOCIAL_CARE_TEAM, ods_code="BSC")
    patients = [PatientFactory(family_name=f"Name{n % 7}") for n in range(12)]
    relationships = care_for(team, patients[:9], office)
    services.start_relationship(
        patient=patients[9], user=worker, kind="social_care_case", reason="own", actor=office
    )
    care_for(other, patients[10:], office)
    services.end_relationship(relationship=relationships[0], reason="closed", actor=office)
    assign_perm("records.view_record", team.group, patients[0])  # a grant left behind
    remove_perm("records.view_record", team.group, patients[1])
    services.record_objection(patient=patients[2], notes="asked", actor=office)

    actor = actor_for(worker)
    expected = list(my_patients(actor))
    # 3..9: not the ended one, the one without a grant, the one objecting, other team's
    assert len(expected) == 7 and patients[2] not in expected
    pages = [my_patients_page(actor, number, per_page=3) for number in (1, 2, 3)]
    assert pages[0].paginator.count == 7 and pages[0].paginator.num_pages == 3
    assert [p.pk for page in pages for p in page] == [p.pk for p in expected]


def test_my_patients_page_past_the_end_is_the_last_and_a_page_not_a_number_the_first(team, office):
    """As Paginator.get_page does."""
    from access.policy import actor_for
    from access.selectors import my_patients, my_patients_page

    worker = member(team, Role.SOCIAL_WORKER, "sw")
    care_for(team, [PatientFactory(family_name=f"Name{n}") for n in range(5)], office)
    actor = actor_for(worker)
    expected = [p.pk for p in my_patients(actor)]

    for number, shown, rows in ((9, 3, expected[4:]), (0, 3, expected[4:]), ("x", 1, expected[:2])):
        page = my_patients_page(actor, number, per_page=2)
        assert (page.number, page.paginator.count, page.paginator.num_pages) == (shown, 5, 3)
        assert [p.pk for p in page] == rows


def test_my_patients_stay_in_name_order_when_a_patient_is_renamed(team, office):
    """The page is read in the order of the names each relationship carries (the database
    copies them): a patient renamed, by a save or by a bulk update, moves at once."""
    from access.policy import actor_for
    from access.selectors import my_patients, my_patients_page
    from records.models import Patient

    worker = member(team, Role.SOCIAL_WORKER, "sw")
    patients = [PatientFactory(family_name=name) for name in ("Adams", "Brown", "Clarke")]
    care_for(team, patients, office)
    services.start_relationship(
        patient=patients[0], user=worker, kind="social_care_case", reason="own", actor=office
    )
    actor = actor_for(worker)

    patients[0].family_name = "Young"
    patients[0].save()
    Patient.objects.filter(pk=patients[2].pk).update(family_name="Aaron")

    listed = [p.pk for p in my_patients_page(actor, 1)]
    assert listed == [patients[2].pk, patients[1].pk, patients[0].pk]
    assert listed == [p.pk for p in my_patients(actor)]
    assert my_patients_page(actor, 1).paginator.count == 3


def test_the_names_a_relationship_carries_stay_out_of_its_change_history(team, office):
    from auditlog.models import LogEntry

    patient = PatientFactory(family_name="Zebedee", given_names="Quentin")
    (relationship,) = care_for(team, [patient], office)
    relationship.reason = "Registered with the practice"  # saved as made: its names were ""
    relationship.save()
    services.end_relationship(relationship=relationship, reason="moved away", actor=office)

    entries = LogEntry.objects.get_for_object(relationship)
    assert entries.count() >= 3  # started (and granted), changed, ended
    assert not any("Zebedee" in str(e.changes) or "Quentin" in str(e.changes) for e in entries)


def test_my_patients_page_of_a_team_caring_for_nobody_is_empty(team):
    from access.policy import actor_for
    from access.selectors import my_patients_page

    page = my_patients_page(actor_for(member(team, Role.SOCIAL_WORKER, "sw")), 3)

    assert (page.number, page.paginator.count, list(page)) == (1, 0, [])


@pytest.fixture
def record_office():
    return make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")


@pytest.mark.parametrize("count", [2, 14])
def test_an_administrator_s_home_shows_relationships_ending_soon_without_naming_anyone(
    client, team, office, record_office, count, django_assert_max_num_queries
):
    from audit.models import AccessEvent

    today = timezone.localdate()
    patients = [PatientFactory(family_name=f"Ending{n}") for n in range(count)]
    for n, patient in enumerate(patients):
        services.start_relationship(
            patient=patient, team=team, kind="social_care_case", reason="open case",
            actor=office, ends_on=today + datetime.timedelta(days=n % 14),
        )  # fmt: skip
    later = PatientFactory(family_name="Later")
    services.start_relationship(
        patient=later, team=team, kind="referral", reason="x", actor=office,
        ends_on=today + datetime.timedelta(days=15),
    )  # fmt: skip
    client.force_login(member(record_office, Role.ADMINISTRATOR, "admin"))

    with django_assert_max_num_queries(12):
        page = client.get(reverse("home")).content.decode()

    assert 'id="my-patients"' not in page
    assert f"<strong>{count}</strong> care relationships end in the next 14 days" in page
    links = re.findall(r'href="/manage/patients/(\d+)/"', page)
    assert links == [str(p.pk) for p in patients[:10]]  # the soonest first, at most ten
    assert str(later.pk) not in links
    assert not any(p.family_name.upper() in page or p.nhs_number in page for p in patients)
    assert not AccessEvent.objects.exists()  # no name shown, so no look recorded
    assert reverse("manage-import-relationships") in page
    assert "No source record waits for identity review." in page


def test_a_privacy_officer_s_home_has_the_queue_alerts_and_questions_and_no_patients(
    client, record_office
):
    client.force_login(member(record_office, Role.PRIVACY_OFFICER, "privacy"))
    page = client.get(reverse("home")).content.decode()
    assert 'id="my-patients"' not in page
    assert "Nothing waits for review." in page
    assert 'id="alerts-heading"' in page
    assert reverse("audit-patient-questions") in page
    assert "Work waiting" not in page


def test_a_clinician_s_home_still_lists_their_team_s_patients(client, team, office):
    patient = PatientFactory()
    care_for(team, [patient], office)
    client.force_login(member(team, Role.SOCIAL_WORKER, "sw"))
    page = client.get(reverse("home")).content.decode()
    assert 'id="my-patients"' in page and patient.full_name in page
    assert "Work waiting" not in page and 'id="alerts-heading"' not in page
