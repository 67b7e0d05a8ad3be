"""The record at a glance, as served: the summary first under the name, the patient's details
after it, a timeline of events from every source by date, every heading in the page (shown one
at a time on screen, all in print), and a printed notice saying who printed it and when."""

import re
from types import SimpleNamespace

import pytest

from care_record.reading import CategoryView
from care_record.timeline import date_sort_key, timeline_of
from records.models import Snapshot
from tests.test_record_page import answered, gp_and_patient, item, linked, page  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("2026-01-15", "20260115"),
        ("2026-01", "202601"),
        ("2026", "2026"),
        ("2026-01-15T14:40:00Z", "20260115144000"),
        ("2026-07-15T14:40:00+01:00", "20260715144000"),  # London summer time
        ("2026-07-15T13:40:00Z", "20260715144000"),  # the same moment
        ("", ""),
        ("not a date", ""),
        (None, ""),
    ],
)
def test_a_date_sorts_as_text_in_time_order_whatever_its_zone(value, key):
    assert date_sort_key(value) == key


def test_the_summary_is_the_first_thing_under_the_name_and_the_address_comes_after(
    gp_and_patient,  # noqa: F811
):
    client, patient = gp_and_patient
    answered(
        linked(patient, "Royal London Hospital"),
        {"allergies": [item("AllergyIntolerance", 1, "Penicillin")]},
    )

    body = page(client, patient).content.decode()

    name = body.index('id="patient-name"')
    identity = body.index('class="lcr-identity"')
    summary = body.index('id="record-summary"')
    assert name < identity < summary
    assert "NHS number <strong>" + patient.formatted_nhs_number in body[identity:summary]
    between = body[identity:summary]
    assert "Address" not in between and "GP practice" not in between
    details = body.index("lcr-patient-details")
    assert summary < details < body.index('id="record-sources"')
    assert "Address" in body[details : body.index('id="record-sources"')]
    assert body.index('id="summary-allergies"') < body.index('id="summary-medicines"')


def test_the_timeline_puts_every_sources_events_together_newest_first(
    gp_and_patient,  # noqa: F811
):
    client, patient = gp_and_patient
    answered(
        linked(patient, "Royal London Hospital"),
        {
            "encounters": [item("Encounter", 1, "A&E attendance", date="2026-03-02T10:00:00Z")],
            "documents": [item("DocumentReference", 1, "Discharge summary", date="2026-03-05")],
            "medicines": [item("MedicationStatement", 1, "Amlodipine 5mg", date="2026-03-09")],
        },
    )
    answered(
        linked(patient, "Mile End Surgery GP"),
        {
            "appointments": [item("Appointment", 1, "Diabetes clinic", date="2026-04-01")],
            "referrals": [item("ServiceRequest", 1, "Cardiology referral", date="2026-01-20")],
            "encounters": [item("Encounter", 2, "Undated visit", date="")],
        },
    )

    body = page(client, patient).content.decode()

    timeline = body[body.index('id="record-timeline"') : body.index('id="tab-allergies"')]
    rows = re.findall(r"<tr class=\"nhsuk-table__row[^\"]*\" data-date=\"(\d*)\">", timeline)
    assert rows == ["20260401", "20260305", "20260302100000", "20260120", ""]  # undated last
    order = [timeline.index(title) for title in (
        "Diabetes clinic", "Discharge summary", "A&amp;E attendance", "Cardiology referral",
        "Undated visit",
    )]  # fmt: skip
    assert order == sorted(order)
    assert "Amlodipine" not in timeline  # a medicine is a state, not an event
    assert "Appointment" in timeline and "Letter or document" in timeline


def test_every_heading_is_in_the_page_for_print_and_the_notice_names_who_and_when(
    gp_and_patient,  # noqa: F811
):
    client, patient = gp_and_patient
    answered(linked(patient, "Royal London Hospital"), {})

    body = page(client, patient).content.decode()

    panels = re.findall(r'<section class="lcr-record-panel" id="tab-(\w+)"', body)
    assert panels[0] == "timeline"
    assert len(panels) == 12  # the timeline and the eleven headings a GP may see
    notice = re.search(r'<p class="lcr-print-notice">(.*?)</p>', body, re.S).group(1)
    assert "CONFIDENTIAL" in notice and "(gp, Mile End Surgery)" in notice
    assert re.search(r"data-lcr-printed-at>\d{1,2} \w{3} \d{4}, \d{2}:\d{2}<", notice)


def test_a_live_update_names_the_timeline_as_changed_for_the_page_to_fetch_again(
    gp_and_patient,  # noqa: F811
):
    client, patient = gp_and_patient
    answered(linked(patient, "Royal London Hospital"), {})

    body = page(client, patient, HTTP_HX_REQUEST="true").content.decode()

    changed = re.search(
        r'id="record-changed" hidden hx-swap-oob="true" data-headings="([^"]*)"', body
    )
    assert "timeline" in changed.group(1).split()
    assert 'id="record-timeline"' not in body  # no table: the page fetches it within its look


def test_a_source_that_cannot_send_two_timeline_headings_says_so_once(
    gp_and_patient,  # noqa: F811
):
    client, patient = gp_and_patient
    link = linked(patient, "Mile End Surgery GP")
    answered(link, {})
    Snapshot.objects.filter(link=link, category__in=["appointments", "documents"]).update(
        status=Snapshot.Status.FAILED, reason="server error 500"
    )

    body = page(client, patient).content.decode()

    timeline = body[body.index('id="record-timeline"') : body.index('id="tab-allergies"')]
    assert timeline.count("Mile End Surgery GP:") == 1


def test_the_timeline_says_what_it_holds_for_this_reader_and_which_of_its_headings_are_not_shown():
    seen = ["encounters", "appointments", "referrals"]  # a role that does not see letters
    record = SimpleNamespace(categories=[CategoryView(category=c, label=c) for c in seen])

    timeline = timeline_of(record)

    assert timeline.holds == "attendances and admissions, appointments and referrals"
    assert timeline.not_shown == ["letters and documents"]
