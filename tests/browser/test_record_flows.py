"""The record in a real browser, with real sources behind it: find a patient, watch the headings
arrive from the simulated sources as the worker fetches them, see a failing source named; a user
without a relationship meets the not-found page; an A&E clinician breaks glass."""

import pytest
from playwright.sync_api import Page, expect

from access import services
from access.models import Role, Team
from audit.models import AccessEvent
from demo.sources import Behaviour
from tests.browser.conftest import PASSWORD, fill_date
from tests.factories import UserFactory, make_team, member
from tests.fetch_helpers import link_everywhere

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
ARRIVAL = 60_000  # ms: the worker fetches five sources, one of them failing after a retry


def known_everywhere(population):
    return next(person for person in population.people if len(person.local_ids) == 5)


@pytest.fixture
def record(page: Page, population, simulated_source, celery_worker, settings):
    """A person known to all five simulated sources; the community service's source fails."""
    settings.LCR_FETCH_MAX_RETRIES = 1
    settings.LCR_FETCH_RETRY_BACKOFF_SECONDS = 0.1
    linked = link_everywhere(population, simulated_source, known_everywhere(population))
    linked.servers["community"].behaviour = Behaviour(fault="error_500")
    return linked


def with_password(user):
    user.set_password(PASSWORD)
    user.save()
    return user


def test_a_social_worker_finds_a_patient_and_watches_the_record_arrive(record, sign_in, check_page):
    team = make_team("Riverside Adult Social Care", Team.Kind.SOCIAL_CARE_TEAM, ods_code="LBR")
    with_password(member(team, Role.SOCIAL_WORKER, "social"))
    services.start_relationship(
        patient=record.patient, team=team, kind="social_care_case", reason="open case",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    page = sign_in("social")

    page.get_by_role("link", name="Find a patient").first.click()
    page.get_by_label("NHS number").fill(record.patient.formatted_nhs_number)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="1 patient found")).to_be_visible()
    check_page("search-social-worker")
    streams = []
    page.on(
        "request",
        lambda request: streams.append(request.url) if "/updates/" in request.url else None,
    )
    page.get_by_role("link", name=record.patient.full_name).click()

    expect(page.get_by_role("heading", name=record.patient.full_name, level=1)).to_be_visible()
    sources = page.locator("#record-sources")
    # The page was drawn before the worker answered, and updates itself (no reload) as it does,
    # told by its look's event stream.
    expect(sources.locator(".lcr-source--up-to-date")).to_have_count(3, timeout=ARRIVAL)
    unavailable = sources.locator(".lcr-source--unavailable")
    expect(unavailable).to_have_count(1, timeout=ARRIVAL)
    expect(unavailable).to_contain_text(record.sources["community"].name)
    expect(sources).not_to_contain_text(record.sources["mental_health"].name)  # not for this role
    expect(page.locator("#record-summary .lcr-provenance").first).to_be_visible()
    # The community service holds care plans and attendances, and has failed: their cards say so.
    care_plans = page.locator("#summary-care_plans")
    expect(care_plans).to_contain_text("Not everything is shown")
    expect(care_plans).to_contain_text(record.sources["community"].name)

    # The timeline, drawn open before the sources answered, was fetched again as they did.
    timeline = page.locator("#record-timeline")
    expect(timeline).not_to_contain_text("Still waiting for", timeout=ARRIVAL)
    expect(timeline.locator("tbody tr").first).to_be_visible()
    page.get_by_role("tab", name="Care plans").click()
    care_plans_heading = page.locator("#category-care_plans")
    expect(care_plans_heading).to_be_visible()
    expect(care_plans_heading).not_to_contain_text("Loading")  # fetched within the look
    expect(care_plans_heading).to_contain_text(record.sources["community"].name)
    check_page("record-social-worker")
    assert streams and "look=" in streams[0]
    # However many updates arrived, the look is one access event.
    assert AccessEvent.objects.filter(username="social", patient=record.patient).count() == 1


def test_someone_without_a_relationship_meets_the_not_found_page(record, sign_in, check_page):
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    with_password(member(team, Role.GP, "gp"))
    page = sign_in("gp")

    page.goto(f"/patients/{record.patient.pk}/")

    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text(record.patient.family_name)
    check_page("record-refused")


def test_an_ae_clinician_breaks_glass_with_a_reason_and_sees_the_banner(
    record, sign_in, check_page
):
    team = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    with_password(member(team, Role.AE_CLINICIAN, "ae"))
    page = sign_in("ae")

    page.goto("/patients/")
    page.get_by_label("NHS number").fill(record.patient.nhs_number)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="No patient found")).to_be_visible()
    page.get_by_role("link", name="Use emergency access").click()

    expect(page.get_by_label("NHS number")).to_have_value(record.patient.nhs_number)
    fill_date(page, "Date of birth", record.patient.birth_date)
    page.get_by_label("Patient unable to consent (unconscious or confused)").check()
    page.get_by_label("Why do you need this record now?").fill("Brought in unconscious")
    page.get_by_role("button", name="Open the record in an emergency").click()

    banner = page.locator(".lcr-break-glass")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Your access is recorded, will be reviewed")
    expect(page.locator("#summary-allergies")).to_be_visible()
    check_page("record-break-glass")


def test_without_its_event_stream_the_record_still_arrives_by_the_fallback_poll(
    record, sign_in, page
):
    team = make_team("Riverside Adult Social Care", Team.Kind.SOCIAL_CARE_TEAM, ods_code="LBR")
    with_password(member(team, Role.SOCIAL_WORKER, "social"))
    services.start_relationship(
        patient=record.patient, team=team, kind="social_care_case", reason="open case",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    polls = []

    def no_streams(route):
        # A proxy that will not pass server-sent events on: the stream never opens.
        if "text/event-stream" in route.request.headers.get("accept", ""):
            route.abort("connectionrefused")
            return
        polls.append(route.request.url)
        route.continue_()

    page.route("**/updates/**", no_streams)
    sign_in("social")
    page.goto(f"/patients/{record.patient.pk}/")

    sources = page.locator("#record-sources")
    expect(sources.locator(".lcr-source--up-to-date")).to_have_count(3, timeout=ARRIVAL)
    expect(sources.locator(".lcr-source--unavailable")).to_have_count(1, timeout=ARRIVAL)
    assert polls and all("look=" in url for url in polls)
    assert AccessEvent.objects.filter(username="social", patient=record.patient).count() == 1
