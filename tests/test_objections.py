"""An objection to sharing hides the patient from every search and list of the portal; only
emergency access still finds them, and its banner then says the patient has objected."""

import datetime

import pytest
from django.urls import reverse

from access import services
from access.models import Role, Team
from access.policy import actor_for
from access.selectors import PatientQuery, find_my_patients, my_patients_page, still_mine
from tests.factories import PatientFactory, UserFactory, make_team, member

pytestmark = pytest.mark.django_db
BORN = datetime.date(1961, 7, 30)


@pytest.fixture
def office():
    return UserFactory(username="office")


@pytest.fixture
def practice(client, office):
    """A GP whose practice cares for Grace Okafor, who has then objected to sharing."""
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    gp = member(team, Role.GP, "gp")
    grace = PatientFactory(given_names="Grace", family_name="Okafor", birth_date=BORN)
    services.start_relationship(
        patient=grace, team=team, kind="registered_gp", reason="registered", actor=office
    )
    client.force_login(gp)
    return client, gp, grace


def objects(patient, office):
    return services.record_objection(patient=patient, notes="asked at reception", actor=office)


def shows(body: str, patient) -> bool:
    """Whether the page names the patient (the name typed into a search form aside)."""
    link = reverse("patient-record", kwargs={"patient_id": patient.pk})
    return patient.formatted_nhs_number in body or link in body


def test_an_objection_hides_the_patient_from_the_nhs_number_search(practice, office):
    client, _, grace = practice
    objects(grace, office)

    body = client.get(reverse("patient-search"), {"nhs_number": grace.nhs_number}).content.decode()

    assert "No patient found" in body
    assert not shows(body, grace)


def test_an_objection_hides_the_patient_from_the_name_and_date_of_birth_search(practice, office):
    client, _, grace = practice
    objects(grace, office)

    body = client.get(
        reverse("patient-search"), {"family_name": "Okafor", "birth_date": "30/07/1961"}
    ).content.decode()

    assert "No patient found" in body
    assert not shows(body, grace)


def test_an_objection_hides_the_patient_from_my_patients_and_recently_viewed(practice, office):
    client, gp, grace = practice
    other = PatientFactory()
    services.start_relationship(
        patient=other, team=gp.memberships.get().team, kind="registered_gp", reason="r",
        actor=office,
    )  # fmt: skip
    for patient in (grace, other):
        look = client.get(reverse("patient-record", kwargs={"patient_id": patient.pk}))
        assert look.status_code == 200
    objects(grace, office)

    home = client.get(reverse("home")).content.decode()

    assert not shows(home, grace)
    assert other.formatted_nhs_number in home  # in the list and in recently viewed
    page = my_patients_page(actor_for(gp), 1)
    assert page.paginator.count == 1 and [p.pk for p in page] == [other.pk]


def test_withdrawing_the_objection_brings_the_patient_back_to_the_searches(practice, office):
    client, gp, grace = practice
    services.withdraw_objection(objection=objects(grace, office), actor=office)

    body = client.get(reverse("patient-search"), {"nhs_number": grace.nhs_number}).content.decode()

    assert "1 patient found" in body
    assert find_my_patients(actor_for(gp), PatientQuery(nhs_number=grace.nhs_number)) == [grace]


def test_emergency_access_still_finds_an_objecting_patient_and_says_it_is_emergency_only(
    client, office
):
    team = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    doctor = member(team, Role.AE_CLINICIAN, "doctor")
    grace = PatientFactory(birth_date=BORN)
    services.start_relationship(
        patient=grace, team=team, kind="current_episode", reason="attending", actor=office
    )
    objects(grace, office)
    client.force_login(doctor)
    url = reverse("patient-record", kwargs={"patient_id": grace.pk})
    assert client.get(url).status_code == 404  # the relationship no longer opens it
    assert find_my_patients(actor_for(doctor), PatientQuery(nhs_number=grace.nhs_number)) == []

    services.break_glass(
        user=doctor, team=team, patient=grace, reason="unconscious", explanation="arrest"
    )

    found = client.get(reverse("patient-search"), {"nhs_number": grace.nhs_number})
    assert "1 patient found" in found.content.decode()
    assert still_mine(actor_for(doctor), [grace.pk]) == [grace]
    record = client.get(url).content.decode()
    assert "The patient has objected to sharing their record" in record
    assert "only through this emergency access" in record


def test_emergency_access_stops_finding_the_patient_once_the_role_may_no_longer_use_it(office):
    """Search and the record agree: an emergency access whose holder's role may not use emergency
    access any more opens nothing, so the searches do not name the patient either."""
    ae = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    doctor = member(ae, Role.AE_CLINICIAN, "doctor")
    grace = PatientFactory(given_names="Grace", family_name="Okafor", birth_date=BORN)
    services.break_glass(
        user=doctor, team=ae, patient=grace, reason="unconscious", explanation="in resus"
    )
    query = PatientQuery(nhs_number=grace.nhs_number)
    assert find_my_patients(actor_for(doctor, ae.pk), query) == [grace]

    services.add_member(
        team=ae,
        user=doctor,
        role=Role.COMMUNITY_NURSE,
        reason="moved to the community",
        actor=office,
    )
    moved = actor_for(doctor, ae.pk)
    assert find_my_patients(moved, query) == []
    assert still_mine(moved, [grace.pk]) == []
