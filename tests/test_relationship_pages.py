"""The administrators' pages: find a patient, record and end relationships, objections (the CSV
import: tests/test_relationship_import.py)."""

import re

import pytest
from django.urls import reverse

from access.models import CareRelationship, Objection, Role, Team
from tests.factories import PatientFactory, make_team, member

pytestmark = pytest.mark.django_db


def bare_cells(page: str) -> str:
    """Table cells without their NHS.UK classes, so that a row reads as <td>3</td><td>..."""
    # A phone's column names and the cell's wrapper (responsive tables) are left out too.
    page = re.sub(r'<span class="nhsuk-table__heading" aria-hidden="true">[^<]*</span>', "", page)
    page = re.sub(r'<div class="lcr-cell">(.*?)</div></td>', r"\1</td>", page, flags=re.S)
    return re.sub(r"<td [^>]*>", "<td>", page)


@pytest.fixture
def office_client(client):
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    client.force_login(member(office, Role.ADMINISTRATOR, "office-admin"))
    return client


@pytest.fixture
def team():
    return make_team("Riverside District Nurses", Team.Kind.COMMUNITY_TEAM, ods_code="RXC")


def test_find_a_patient_by_nhs_number_with_spaces(office_client):
    patient = PatientFactory()
    response = office_client.post(
        reverse("manage-find-patient"), {"nhs_number": patient.formatted_nhs_number}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("manage-patient", kwargs={"patient_id": patient.pk})


def test_a_wrong_check_digit_says_so(office_client):
    response = office_client.post(reverse("manage-find-patient"), {"nhs_number": "999 000 0017"})
    assert "check digit is wrong" in response.content.decode()


def test_record_and_end_a_relationship(office_client, team):
    patient = PatientFactory()
    url = reverse("manage-patient", kwargs={"patient_id": patient.pk})

    office_client.post(url, {"team": team.pk, "kind": "referral", "reason": "wound care"})
    relationship = CareRelationship.objects.get()
    assert (relationship.team, relationship.created_by.username) == (team, "office-admin")
    assert "wound care" in office_client.get(url).content.decode()

    office_client.post(
        reverse("manage-end-relationship", kwargs={"relationship_id": relationship.pk}),
        {"reason": "discharged"},
    )
    relationship.refresh_from_db()
    assert relationship.end_reason == "discharged"


def test_a_relationship_without_a_reason_is_refused_with_the_form(office_client, team):
    patient = PatientFactory()
    url = reverse("manage-patient", kwargs={"patient_id": patient.pk})
    response = office_client.post(url, {"team": team.pk, "kind": "referral", "reason": ""})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert not CareRelationship.objects.exists()


def test_record_and_withdraw_an_objection(office_client):
    patient = PatientFactory()
    office_client.post(
        reverse("manage-record-objection", kwargs={"patient_id": patient.pk}),
        {"notes": "asked by letter"},
    )
    objection = Objection.objects.get()
    office_client.post(reverse("manage-withdraw-objection", kwargs={"objection_id": objection.pk}))
    objection.refresh_from_db()
    assert objection.withdrawn_at is not None


def test_an_objection_the_patient_recorded_themselves_is_not_withdrawn_by_the_office(
    office_client,
):
    from access.services import record_objection

    patient = PatientFactory()
    objection = record_objection(patient=patient, notes="through NHS login", by_patient=True)

    answer = office_client.post(
        reverse("manage-withdraw-objection", kwargs={"objection_id": objection.pk}), follow=True
    )

    assert "only they can withdraw it" in answer.content.decode()
    objection.refresh_from_db()
    assert objection.withdrawn_at is None


def test_home_lists_my_patients_in_bounded_queries(client, django_assert_max_num_queries):
    from access import services

    team = make_team("GP", Team.Kind.GP_PRACTICE, ods_code="F1")
    gp = member(team, Role.GP, "dr")
    setup = member(make_team("Office", Team.Kind.RECORD_OFFICE, ods_code="O"), Role.ADMINISTRATOR)
    for count in (3, 60):
        while CareRelationship.objects.filter(team=team).count() < count:
            services.start_relationship(
                patient=PatientFactory(), team=team, kind="registered_gp", reason="r", actor=setup
            )
        client.force_login(gp)
        # One asks whether this user needs a second factor (lcr.signin), one reads the user's
        # recent looks, and one the view-record permission's id until it is cached.
        with django_assert_max_num_queries(14):
            response = client.get(reverse("home"))
        assert len(re.findall(r'href="/patients/\d+/"', response.content.decode())) == min(
            count, 50
        )
