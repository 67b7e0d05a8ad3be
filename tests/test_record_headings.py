"""The record page draws only the heading open; the page fetches each other heading as part of
the same look (no access event of its own), a heading not drawn yet never reads as empty, and
without JavaScript every heading is a link away (within the look while it is open)."""

import datetime
import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from access import services
from access.models import Role, Team
from audit.models import AccessEvent, LookUpdate
from tests.factories import PatientFactory, UserFactory, make_team, member
from tests.test_record_page import HX, answered, gp_and_patient, item, linked  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def looked_at(gp_and_patient):  # noqa: F811
    client, patient = gp_and_patient
    answered(
        linked(patient, "Royal London Hospital"),
        {
            "allergies": [item("AllergyIntolerance", 1, "Penicillin")],
            "test_results": [item("Observation", 1, "HbA1c", value="48 mmol/mol")],
        },
    )
    here = reverse("patient-record", kwargs={"patient_id": patient.pk})
    page = client.get(here).content.decode()
    look = AccessEvent.objects.get()
    return client, patient, here, page, look


def panel(page: str, key: str) -> str:
    return re.search(rf'<section class="lcr-record-panel" id="tab-{key}".*?</section>', page, re.S)[
        0
    ]


def test_the_page_draws_the_timeline_and_only_says_loading_for_the_other_headings(looked_at):
    _, _, here, page, look = looked_at

    assert 'id="record-timeline"' in panel(page, "timeline")
    assert "HbA1c" not in page  # a heading not opened is not read, nor drawn
    results = panel(page, "test_results")
    assert "Loading test results ..." in results
    assert f'href="{here}?heading=test_results&amp;look={look.pk}#tab-test_results"' in results
    # An empty heading not drawn yet never reads as empty.
    immunisations = panel(page, "immunisations")
    assert "None recorded" not in immunisations and "Loading immunisations ..." in immunisations
    # The event names what the page showed; the rest is named when it is shown, against it.
    assert [r.split("/", 1)[1] for r in look.resource_ids] == [
        "AllergyIntolerance/AllergyIntolerance-1"
    ]


def test_a_heading_fetched_by_the_page_is_part_of_its_look_and_writes_no_access_event(looked_at):
    client, _, here, _, look = looked_at

    answer = client.get(f"{here}?heading=test_results&look={look.pk}", **HX)

    body = answer.content.decode()
    assert answer.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<div id="category-test_results">')
    assert "HbA1c" in body and "48 mmol/mol" in body
    assert 'id="nav-state-test_results" class="lcr-nav-state" hx-swap-oob="true"' in body
    assert AccessEvent.objects.count() == 1
    # What it showed beyond the look's event is named against the look, once.
    (shown,) = LookUpdate.objects.filter(look_id=look.pk)
    assert [r.split("/", 1)[1] for r in shown.resource_ids] == ["Observation/Observation-1"]
    client.get(f"{here}?heading=test_results&look={look.pk}", **HX)
    assert LookUpdate.objects.count() == 1


def test_an_empty_heading_fetched_once_every_source_answered_reads_none_recorded(looked_at):
    client, _, here, _, look = looked_at

    body = client.get(f"{here}?heading=immunisations&look={look.pk}", **HX).content.decode()

    assert "None recorded by the sources that answered." in body


def test_the_timeline_is_fetched_like_a_heading(looked_at):
    client, _, here, _, look = looked_at

    body = client.get(f"{here}?heading=timeline&look={look.pk}", **HX).content.decode()

    assert body.lstrip().startswith('<div id="record-timeline">')
    assert AccessEvent.objects.count() == 1


def test_a_heading_fetch_needs_the_look_of_this_reader(looked_at):
    client, _, here, _, look = looked_at

    assert client.get(f"{here}?heading=test_results", **HX).status_code == 400
    # Another user's look (a colleague in the same team, caring for the same patient).
    colleague = member(Team.objects.get(pk=look.team_id), Role.GP, "gp2")
    client.force_login(colleague)
    refused = client.get(f"{here}?heading=test_results&look={look.pk}", **HX)
    assert refused["HX-Redirect"] == f"{here}?heading=test_results"  # a look of their own
    assert "HbA1c" not in refused.content.decode()
    assert AccessEvent.objects.count() == 1 and not LookUpdate.objects.exists()
    # What the heading asked for is not copied into the address: only a heading it chose.
    smuggled = client.get(f"{here}?heading=x%26look%3D{look.pk}&look={look.pk}", **HX)
    assert smuggled["HX-Redirect"] == f"{here}?heading=timeline"


def test_a_heading_fetch_of_an_ended_look_is_sent_to_a_new_look(looked_at, settings):
    client, _, here, _, look = looked_at
    settings.LCR_LOOK_OPEN_MINUTES = 1  # ended well within the sign-in's idle limit
    later = timezone.now() + datetime.timedelta(minutes=2)

    with time_machine.travel(later):
        answer = client.get(f"{here}?heading=test_results&look={look.pk}", **HX)

    assert answer["HX-Redirect"] == f"{here}?heading=test_results"
    assert "HbA1c" not in answer.content.decode()
    assert not LookUpdate.objects.exists()


def test_a_heading_the_role_may_not_see_is_not_fetched(client):
    team = make_team("Riverside Social Care", Team.Kind.SOCIAL_CARE_TEAM, ods_code="LBR")
    worker = member(team, Role.SOCIAL_WORKER, "sw")
    patient = PatientFactory()
    services.start_relationship(
        patient=patient, team=team, kind="social_care_case", reason="open case",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    answered(linked(patient, "GP"), {"test_results": [item("Observation", 1, "HbA1c")]})
    client.force_login(worker)
    here = reverse("patient-record", kwargs={"patient_id": patient.pk})
    client.get(here)
    look = AccessEvent.objects.get()

    answer = client.get(f"{here}?heading=test_results&look={look.pk}", **HX)

    assert answer.status_code == 400 and "HbA1c" not in answer.content.decode()


def test_without_javascript_a_headings_link_opens_it_within_the_look(looked_at):
    client, _, here, _, look = looked_at

    page = client.get(f"{here}?heading=test_results&look={look.pk}").content.decode()

    assert "HbA1c" in panel(page, "test_results")
    assert "Loading timeline ..." in panel(page, "timeline")  # only the heading asked for
    assert AccessEvent.objects.count() == 1  # still the one look
    # Without the look (a bookmark, a reload), it is a look of its own.
    client.get(f"{here}?heading=test_results")
    assert AccessEvent.objects.count() == 2


def test_without_javascript_a_link_naming_an_ended_look_opens_a_new_one(looked_at, settings):
    client, _, here, _, look = looked_at
    settings.LCR_LOOK_OPEN_MINUTES = 1  # ended well within the sign-in's idle limit
    later = timezone.now() + datetime.timedelta(minutes=2)

    with time_machine.travel(later):
        answer = client.get(f"{here}?heading=test_results&look={look.pk}")

    assert answer.status_code == 302 and answer["Location"] == f"{here}?heading=test_results"


def test_every_heading_on_one_page_draws_them_all_for_print(looked_at):
    client, _, here, _, look = looked_at

    page = client.get(f"{here}?heading=all&look={look.pk}").content.decode()

    assert "Loading" not in page and "lcr-heading-pending" not in page
    assert "HbA1c" in panel(page, "test_results") and "Penicillin" in panel(page, "allergies")
    assert "None recorded by the sources that answered." in panel(page, "immunisations")
    assert AccessEvent.objects.count() == 1
