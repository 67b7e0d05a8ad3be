"""The administrators' pages: find a patient, record and end relationships, objections (the CSV
import: tests/test_relationship_import.py)."""

import datetime
import re

import pytest
from django.urls import reverse

from access.models import CareRelationship, Objection, Role, Team
from tests.factories import PatientFactory, UserFactory, make_team, member

pytestmark = pytest.mark.django_db


def title(page: str) -> str:
    """The page's title, its en dashes read as " - " (the pages use en dashes)."""
    return page.split("<title>")[1].split("</title>")[0].replace("\u2013", "-")


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
    page = response.content.decode()
    assert response.status_code == 200
    assert "There is a problem" in page
    assert "Enter why this team or person cares for the patient" in page
    assert "This field is required" not in page
    assert not CareRelationship.objects.exists()


def test_the_manage_page_is_titled_by_page_then_patient(office_client):
    patient = PatientFactory(given_names="Jane", family_name="Smith")
    page = office_client.get(reverse("manage-patient", kwargs={"patient_id": patient.pk}))
    assert title(page.content.decode()) == "Care relationships - Jane SMITH - Shared care record"


def test_the_team_drop_down_asks_to_choose_a_team(office_client, team):
    patient = PatientFactory()
    page = office_client.get(reverse("manage-patient", kwargs={"patient_id": patient.pk}))
    body = page.content.decode()
    assert re.search(r'<option value=""[^>]*>Choose a team</option>', body)
    assert re.search(r'<option value=""[^>]*>Choose the kind of relationship</option>', body)
    assert "---------" not in body


def test_neither_a_team_nor_a_person_is_asked_for_on_the_team_field(office_client):
    patient = PatientFactory()
    url = reverse("manage-patient", kwargs={"patient_id": patient.pk})
    page = office_client.post(url, {"kind": "referral", "reason": "wound care"}).content.decode()
    assert "Choose a team or enter a username" in page
    assert 'href="#id_team"' in page
    assert "<title>Error: Care relationships" in page
    assert not CareRelationship.objects.exists()


@pytest.mark.parametrize(
    ("day", "month", "year", "error", "first_box"),
    [
        ("1", "", "2030", "The date the relationship ends must include a month", "month"),
        ("", "", "2030", "The date the relationship ends must include a day and month", "day"),
        ("31", "2", "2030", "The date the relationship ends must be a real date", "day"),
        ("1", "13", "2030", "The date the relationship ends must be a real date", "month"),
        ("1", "2", "30", "The date the relationship ends must be a real date", "year"),
        ("1", "2", "3000", "The date the relationship ends must be between 1900 and 2099", "day"),
    ],
)
def test_an_end_date_typed_wrong_says_what_is_wrong_and_marks_the_box(
    office_client, team, day, month, year, error, first_box
):
    patient = PatientFactory()
    url = reverse("manage-patient", kwargs={"patient_id": patient.pk})
    page = office_client.post(
        url,
        {
            "team": team.pk,
            "kind": "referral",
            "reason": "wound care",
            "ends_on_day": day,
            "ends_on_month": month,
            "ends_on_year": year,
        },
    ).content.decode()
    assert error in page
    assert f'href="#id_ends_on_{first_box}"' in page
    assert f'value="{year}"' in page  # what was typed is kept
    assert not CareRelationship.objects.exists()


def test_an_end_date_in_three_boxes_is_recorded(office_client, team):
    patient = PatientFactory()
    url = reverse("manage-patient", kwargs={"patient_id": patient.pk})
    ends = datetime.date.today() + datetime.timedelta(days=40)
    office_client.post(
        url,
        {
            "team": team.pk,
            "kind": "referral",
            "reason": "wound care",
            "ends_on_day": str(ends.day),
            "ends_on_month": f"0{ends.month}"[-2:],
            "ends_on_year": str(ends.year),
        },
    )
    assert CareRelationship.objects.get().ends_on == ends


def test_ending_without_a_reason_shows_the_error_on_the_page_and_ends_nothing(office_client, team):
    from access.services import start_relationship

    patient = PatientFactory(given_names="Jane", family_name="Smith")
    relationship = start_relationship(
        patient=patient, team=team, kind="referral", reason="wound care",
        actor=UserFactory(username="another-admin"),
    )  # fmt: skip
    response = office_client.post(
        reverse("manage-end-relationship", kwargs={"relationship_id": relationship.pk}),
        {"reason": "  "},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert title(page) == "Error: Care relationships - Jane SMITH - Shared care record"
    assert "There is a problem" in page
    assert f'href="#end-{relationship.pk}-reason"' in page
    assert "Enter a reason for ending the relationship" in page
    relationship.refresh_from_db()
    assert relationship.ended_at is None


def test_an_objection_without_notes_shows_the_error_on_the_page(office_client):
    patient = PatientFactory()
    response = office_client.post(
        reverse("manage-record-objection", kwargs={"patient_id": patient.pk}), {"notes": ""}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Enter what the patient asked, and how it was recorded" in page
    assert 'href="#objection-notes"' in page
    assert not Objection.objects.exists()


def test_withdrawing_an_objection_asks_first_and_changes_nothing_until_confirmed(office_client):
    from audit.models import AccessEvent

    patient = PatientFactory(given_names="Jane", family_name="Smith")
    office_client.post(
        reverse("manage-record-objection", kwargs={"patient_id": patient.pk}),
        {"notes": "asked by letter"},
    )
    objection = Objection.objects.get()
    url = reverse("manage-withdraw-objection", kwargs={"objection_id": objection.pk})
    looks = AccessEvent.objects.filter(patient=patient).count()

    question = office_client.get(url).content.decode()

    assert "Are you sure you want to withdraw the objection to sharing?" in question
    assert "asked by letter" in question
    assert AccessEvent.objects.filter(patient=patient).count() == looks + 1  # the name shown
    objection.refresh_from_db()
    assert objection.withdrawn_at is None


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
