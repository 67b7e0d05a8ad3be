"""The record page: who, where from and how fresh, the summary first, a tab per heading, and live
updates while sources answer; bounded queries whatever the number of items."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from access import services
from access.models import Role, Team
from audit.models import AccessEvent
from records.categories import ALL_CATEGORIES
from records.models import Link, MatchMethod, Snapshot
from tests.factories import PatientFactory, SourceSystemFactory, UserFactory, make_team, member

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def item(resource_type, n, title, **fields):
    return {
        "resource_type": resource_type, "resource_id": f"{resource_type}-{n}", "title": title,
        "date": fields.pop("date", "2026-11-01"), "status": fields.pop("status", "active"),
        "value": "", "detail": "", "criticality": "", "contact": "", **fields,
    }  # fmt: skip


def answered(link, items_by_category, *, minutes_ago=1):
    fetched = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    for category in ALL_CATEGORIES:
        items = items_by_category.get(category, [])
        Snapshot.objects.create(
            link=link, category=category, status=Snapshot.Status.FRESH, items=items,
            item_count=len(items), requested_at=fetched, fetched_at=fetched,
            expires_at=fetched + datetime.timedelta(hours=1),
        )  # fmt: skip


@pytest.fixture
def gp_and_patient(client):
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    gp = member(team, Role.GP, "gp")
    patient = PatientFactory(given_names="Grace", family_name="Okafor")
    services.start_relationship(
        patient=patient, team=team, kind="registered_gp", reason="registered",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    client.force_login(gp)
    return client, patient


def linked(patient, name, **source):
    return Link.objects.create(
        patient=patient, source=SourceSystemFactory(name=name, **source),
        local_id=f"L-{name}", matched_by=MatchMethod.NHS_NUMBER, confirmed_at=timezone.now(),
    )  # fmt: skip


def page(client, patient, heading="", **headers):
    """The record page; with `heading`, that heading open (all: every heading, as printed)."""
    here = reverse("patient-record", kwargs={"patient_id": patient.pk})
    return client.get(f"{here}?heading={heading}" if heading else here, **headers)


def test_the_summary_comes_first_with_allergies_high_risk_first_and_only_current_medicines(
    gp_and_patient,
):
    client, patient = gp_and_patient
    answered(
        linked(patient, "Royal London Hospital"),
        {
            "allergies": [
                item("AllergyIntolerance", 1, "Latex", detail="Rash (mild)"),
                item("AllergyIntolerance", 2, "Penicillin", criticality="high",
                     detail="Anaphylaxis (severe)"),
            ],
            "medicines": [
                item("MedicationStatement", 1, "Amlodipine 5mg tablets"),
                item("MedicationStatement", 2, "Amoxicillin 500mg", status="completed"),
            ],
            "care_plans": [item("CarePlan", 1, "Reablement", contact="Riverside team, J Shah")],
        },
        minutes_ago=3,
    )  # fmt: skip

    body = page(client, patient).content.decode()

    summary = body[body.index('id="record-summary"') : body.index('id="record-headings"')]
    assert summary.index("Allergies and reactions") < summary.index("Current medicines")
    assert summary.index("Penicillin") < summary.index("Latex")  # high risk first
    assert "nhsuk-card--care--urgent" in summary  # an allergy cannot be missed
    assert "Amlodipine" in summary and "Amoxicillin" not in summary  # completed course
    assert "Contact: <strong>Riverside team, J Shah</strong>" in summary
    assert "Royal London Hospital, fetched 3\xa0minutes ago" in summary
    assert "Amoxicillin" not in body  # the medicines heading is not drawn until it is opened
    medicines = page(client, patient, heading="medicines").content.decode()
    assert "Amoxicillin" in heading(medicines, "medicines")  # under its heading, with its status


def test_every_heading_has_a_tab_and_only_the_headings_the_role_may_see(client):
    team = make_team("Riverside Social Care", Team.Kind.SOCIAL_CARE_TEAM, ods_code="LBR")
    worker = member(team, Role.SOCIAL_WORKER, "sw")
    patient = PatientFactory()
    services.start_relationship(
        patient=patient, team=team, kind="social_care_case", reason="open case",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    answered(linked(patient, "GP"), {})
    client.force_login(worker)

    body = page(client, patient).content.decode()

    assert "?heading=care_plans&amp;look=" in body and '#tab-care_plans">' in body
    assert "#tab-test_results" not in body  # not a social worker's heading
    assert "Not shown to your role:" in body


def test_while_a_source_is_loading_the_page_listens_for_updates_and_htmx_gets_only_the_parts(
    gp_and_patient,
):
    client, patient = gp_and_patient
    answered(linked(patient, "Royal London Hospital"), {})
    linked(patient, "Mile End Surgery GP")  # has not answered yet

    full = page(client, patient).content.decode()
    assert "data-live-updates=" in full and "Asking" in full
    assert "Still waiting for Mile End Surgery GP, so this may be missing something." in full

    update = page(client, patient, **HX)
    body = update.content.decode()
    assert update["Vary"] == "HX-Request" or "HX-Request" in update["Vary"]
    assert "<html" not in body and 'id="record-sources"' in body
    assert 'id="record-summary" hx-swap-oob="true"' in body
    # The navigation's state of each heading, and which headings changed: no heading's table
    # (the page fetches again those it has drawn).
    assert 'id="nav-state-allergies" class="lcr-nav-state" hx-swap-oob="true"' in body
    assert 'id="record-changed" hidden hx-swap-oob="true" data-headings="allergies ' in body
    assert 'id="category-allergies"' not in body
    # Asked without naming its look (tests/test_live_updates.py), the parts are a look of their own.
    assert AccessEvent.objects.count() == 2


def test_once_every_source_has_answered_the_page_stops_asking(gp_and_patient):
    client, patient = gp_and_patient
    answered(linked(patient, "Royal London Hospital"), {})
    body = page(client, patient, **HX).content.decode()
    assert "data-live-updates" not in body and "Up to date" in body
    assert "Still waiting" not in body


def test_an_unavailable_source_says_why_and_the_summary_says_it_may_be_incomplete(
    gp_and_patient,
):
    client, patient = gp_and_patient
    answered(linked(patient, "Royal London Hospital"), {})
    gp_link = linked(patient, "Mile End Surgery GP")
    now = timezone.now()
    for category in ALL_CATEGORIES:
        Snapshot.objects.create(
            link=gp_link, category=category, status=Snapshot.Status.FAILED,
            reason="the source did not answer in time", requested_at=now,
            expires_at=now + datetime.timedelta(hours=1),
        )  # fmt: skip

    body = page(client, patient).content.decode()

    assert "Unavailable" in body and "the source did not answer in time" in body
    summary = body[body.index('id="summary-allergies"') :]
    assert (
        "Not everything is shown, so this may be missing something:</strong> "
        "Mile End Surgery GP: the source did not answer in time." in summary
    )
    assert "data-live-updates" not in body


def heading(body: str, category: str) -> str:
    return re.search(rf'<div id="category-{category}".*?</div>', body, re.S).group()


def test_what_a_source_withheld_is_counted_and_said_at_the_source_the_heading_and_the_summary(
    gp_and_patient,
):
    client, patient = gp_and_patient
    link = linked(patient, "Royal London Hospital")
    answered(link, {"allergies": [item("AllergyIntolerance", n, f"Allergy {n}") for n in (1, 2)]})
    Snapshot.objects.filter(link=link, category="allergies").update(
        withheld_count=24_000, withheld_reason="sent 26,000 resources; at most 2,000 are shown"
    )

    body = page(client, patient, heading="all").content.decode()

    said = "Royal London Hospital sent 26,000 resources; at most 2,000 are shown"
    assert "Some withheld" in body
    assert "Allergies and reactions: sent 26,000 resources; at most 2,000 are shown." in body
    allergies = heading(body, "allergies")
    assert "(2 shown, 24,000 withheld)" in allergies
    assert f"Not everything is shown:</strong> {said}." in allergies
    summary = body[body.index('id="summary-allergies"') :]
    assert f"Not everything is shown:</strong> {said}." in summary
    assert "No allergies recorded." not in body


def test_a_heading_whose_source_failed_gives_the_reason_and_never_reads_none_recorded(
    gp_and_patient,
):
    client, patient = gp_and_patient
    link = linked(patient, "Royal London Hospital")
    answered(link, {})
    Snapshot.objects.filter(link=link, category="allergies").update(
        status=Snapshot.Status.FAILED, reason="sent more than 10 MB", fetched_at=None
    )

    body = page(client, patient, heading="all").content.decode()

    allergies = heading(body, "allergies")
    assert (
        "Not everything is shown:</strong> Royal London Hospital sent more than 10 MB." in allergies
    )
    assert "None recorded" not in allergies
    assert "None recorded by the sources that answered." in heading(body, "medicines")


def test_refresh_now_through_htmx_answers_with_the_sources_part(gp_and_patient):
    client, patient = gp_and_patient
    answered(linked(patient, "Royal London Hospital"), {})
    response = client.post(reverse("patient-record", kwargs={"patient_id": patient.pk}), **HX)
    assert response.status_code == 200
    assert 'id="record-sources"' in response.content.decode()
    said = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode()))
    assert "Asking : showing what it sent 1 minute ago" in said


def test_the_record_page_queries_do_not_grow_with_the_number_of_items(gp_and_patient):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client, small = gp_and_patient
    large = PatientFactory()
    services.start_relationship(
        patient=large, team=small.relationships.get().team, kind="registered_gp", reason="r",
        actor=UserFactory(username="office2"),
    )  # fmt: skip
    answered(linked(small, "Only source"), {"allergies": [item("AllergyIntolerance", 1, "Latex")]})
    for s in range(5):
        answered(
            linked(large, f"Source {s}"),
            {
                category: [item("Observation", n, f"{category} {n}") for n in range(100)]
                for category in ALL_CATEGORIES
            },
        )
    counts = {}
    for patient in (small, large):
        page(client, patient)  # the first look creates its audit chain's head
        with CaptureQueriesContext(connection) as queries:
            response = page(client, patient)
        assert response.status_code == 200
        counts[patient.pk] = len(queries)

    assert counts[small.pk] == counts[large.pk] <= 25  # 1 item from 1 source, 5,500 from 5


def test_the_same_medicine_from_two_sources_is_summarised_once_naming_both(gp_and_patient):
    client, patient = gp_and_patient
    amlodipine = item("MedicationStatement", 1, "Amlodipine 5mg tablets", code="319283006",
                      code_system="http://snomed.info/sct")  # fmt: skip
    answered(linked(patient, "Royal London Hospital"), {"medicines": [amlodipine]})
    answered(linked(patient, "Mile End Surgery GP"), {"medicines": [amlodipine]}, minutes_ago=0)

    body = page(client, patient).content.decode()

    summary = body[body.index('id="record-summary"') : body.index('id="record-headings"')]
    assert summary.count("Amlodipine 5mg tablets") == 1
    assert "Royal London Hospital, fetched 1\xa0minute ago" in summary
    assert "Mile End Surgery GP, fetched just now" in summary


def test_an_entered_in_error_allergy_is_struck_through_under_its_heading_and_not_in_the_summary(
    gp_and_patient,
):
    client, patient = gp_and_patient
    answered(
        linked(patient, "Mile End Surgery GP"),
        {"allergies": [
            item("AllergyIntolerance", 1, "Latex", status="Entered in error",
                 status_code="inactive", retracted="Entered in error"),
            item("AllergyIntolerance", 2, "Penicillin"),
        ]},
    )  # fmt: skip

    body = page(client, patient, heading="all").content.decode()

    summary = body[body.index('id="summary-allergies"') : body.index('id="record-headings"')]
    assert "Penicillin" in summary and "Latex" not in summary
    row = re.search(r'<tr class="nhsuk-table__row lcr-retracted"[^>]*>.*?</tr>', body, re.S).group()
    assert "<del>Latex</del>" in row
    assert "<strong>Not current:</strong> the source says this was entered in error." in row


def test_dates_and_statuses_under_a_heading_read_as_nhs_uk_writes_them(gp_and_patient):
    client, patient = gp_and_patient
    answered(
        linked(patient, "Thameside"),
        {"appointments": [
            item("Appointment", 1, "Diabetes clinic", date="2026-01-15T14:40:00Z",
                 status="noshow"),
            item("Appointment", 2, "Eye clinic", date="2026-07-03", status="booked"),
        ]},
    )  # fmt: skip

    appointments = heading(
        page(client, patient, heading="appointments").content.decode(), "appointments"
    )

    assert "15 January 2026, 14:40" in appointments and "T14:40" not in appointments
    assert "3 July 2026<" in appointments  # a date only, when the source gave a date only
    assert "Did not attend" in appointments and "noshow" not in appointments


def test_a_summary_card_may_be_missing_something_only_if_its_own_heading_is_unanswered(
    gp_and_patient,
):
    client, patient = gp_and_patient
    link = linked(patient, "Mile End Surgery GP")
    answered(link, {"allergies": [item("AllergyIntolerance", 1, "Penicillin")]})
    Snapshot.objects.filter(link=link, category="medicines").update(
        status=Snapshot.Status.PENDING, fetched_at=None
    )

    body = page(client, patient).content.decode()

    allergies = body[body.index('id="summary-allergies"') : body.index('id="summary-medicines"')]
    medicines = body[body.index('id="summary-medicines"') : body.index('id="summary-problems"')]
    assert "Still waiting" not in allergies
    assert "Still waiting for Mile End Surgery GP, so this may be missing something." in medicines
