"""The record's hard shapes in a real browser, at a laptop's and a phone's size: an allergy entered
in error struck through and said in words, GP2GP-degraded allergies each shown, medicines named,
dates and statuses in plain English; every page passes axe."""

import pytest
from playwright.sync_api import Page, expect

from access import services
from access.models import Role, Team
from tests.browser.conftest import PASSWORD
from tests.factories import UserFactory, make_team, member
from tests.fetch_helpers import link_everywhere

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
ARRIVAL = 60_000  # ms: the worker fetches five sources
SIZES = {"laptop": (1366, 768), "phone": (390, 844)}


@pytest.fixture
def gp_record(population, simulated_source, celery_worker):
    """Person 0 (every shape) at all five sources, and a GP whose practice cares for them."""
    linked = link_everywhere(population, simulated_source, population.people[0])
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    gp = member(team, Role.GP, "gp")
    gp.set_password(PASSWORD)
    gp.save()
    services.start_relationship(
        patient=linked.patient, team=team, kind="registered_gp", reason="registered",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    return linked


def heading(page: Page, category: str) -> None:
    """Open a heading: its tab in the navigation (the page fetches it when first opened)."""
    page.locator(f'a.lcr-record-nav__tab[href$="#tab-{category}"]').click()
    expect(page.locator(f"#category-{category}")).to_be_visible()


@pytest.mark.parametrize("size", list(SIZES))
def test_an_entered_in_error_allergy_is_struck_through_and_says_so_in_words(
    gp_record, sign_in, check_page, size
):
    page: Page = sign_in("gp")
    page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))
    page.goto(f"/patients/{gp_record.patient.pk}/")
    sources = page.locator("#record-sources")
    expect(sources.locator(".lcr-source--up-to-date")).to_have_count(5, timeout=ARRIVAL)

    summary = page.locator("#summary-allergies")
    for degraded in ("Septrin", "Egg protein", "Amoxicillin"):
        expect(summary).to_contain_text(degraded)
    expect(summary).not_to_contain_text("Latex")
    expect(page.locator("#summary-attendances")).not_to_contain_text("None in the last year")
    expect(page.locator("#summary-medicines")).to_contain_text("Ramipril 10mg capsules")
    check_page(f"record-meaning-summary-{size}")

    heading(page, "allergies")
    retracted = page.locator("#category-allergies tr.lcr-retracted")
    expect(retracted).to_have_count(1)
    expect(retracted.locator("del").first).to_have_text("Latex")
    expect(retracted).to_contain_text("Not current: the source says this was entered in error.")
    check_page(f"record-meaning-allergies-{size}")

    heading(page, "test_results")
    results = page.locator("#category-test_results")
    expect(results).to_contain_text("142/94 mmHg")
    expect(results).to_contain_text("Not recorded: specimen unsatisfactory (haemolysed)")
    expect(results).not_to_contain_text("millimeter")
    check_page(f"record-meaning-results-{size}")

    heading(page, "appointments")
    expect(page.locator("#category-appointments")).to_contain_text("Did not attend")
    check_page(f"record-meaning-appointments-{size}")
