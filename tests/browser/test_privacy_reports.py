"""A privacy officer's day in a real browser, on the demo's own history (demo/audit_history.py):
the finder (by NHS number, then by name and date of birth), the access report filtered, an
alert's evidence opened from the queue's "Worth a look", and an emergency access's page. Each
page passes axe (WCAG 2.2 AA) and fits a 390px phone without scrolling sideways; screenshots at
1366x768 and 390x844 are kept under var/test-output/screenshots."""

import re

import pytest
from playwright.sync_api import Page, expect

from demo.load import (
    DEMO_USERS,
    create_demo_api_clients,
    create_demo_relationships,
    create_demo_teams,
    create_demo_users,
    register_population,
)
from tests.browser.conftest import PASSWORD, fill_date, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SIZES = {"laptop": (1366, 768), "phone": (390, 844)}
PRIVACY = next(user for user in DEMO_USERS if user.username == "privacy")


@pytest.fixture
def demo(population, tmp_path, settings):
    """The demo as `make run` loads it (its population smaller), the privacy officer able to
    sign in with a password here."""
    from django.contrib.auth import get_user_model

    from demo.audit_history import load_audit_history

    settings.VAR_DIR = tmp_path
    settings.LCR_AUDIT_CHECKPOINT_FILE = tmp_path / "audit-checkpoints.jsonl"
    register_population(population)
    create_demo_users()
    teams = create_demo_teams(population)
    create_demo_relationships(population, teams)
    create_demo_api_clients(teams)
    history = load_audit_history(population, teams)
    officer = get_user_model().objects.get(username="privacy")
    officer.set_password(PASSWORD)
    officer.save()
    return history, population.people[0]


def at_both_sizes(page: Page, check_page, name: str) -> None:
    """Screenshots and axe at a laptop's size and a phone's; nothing wider than the phone."""
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, _screens() / f"{name}-{size}-screen.png")
        check_page(f"{name}-{size}")
        if size == "phone":
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{name} is {wide}px wide at {width}px: {_too_wide(page, width)}"
    page.set_viewport_size({"width": 1366, "height": 768})


TOO_WIDE = """width => [...document.querySelectorAll("main *")]
  .filter(e => e.getBoundingClientRect().right > width + 1)
  .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > width + 1))
  .slice(0, 5)
  .map(e => `${e.tagName.toLowerCase()}.${e.className}: ${e.textContent.slice(0, 60)}`)"""


def _too_wide(page: Page, width: int) -> list[str]:
    """The innermost elements reaching past the screen's edge, for the failure's message."""
    return page.evaluate(TOO_WIDE, width)


def _screens():
    from tests.browser.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def test_a_privacy_officer_finds_the_example_patient_reads_and_filters_the_report_and_reviews(
    demo, sign_in, check_page
):
    _, person = demo
    page = sign_in("privacy", totp_key=PRIVACY.totp_key)

    # The finder: by NHS number, then by name and date of birth.
    page.goto("/audit/patients/")
    page.get_by_label("NHS number").fill(person.nhs_number)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="1 patient found")).to_be_visible()
    at_both_sizes(page, check_page, "privacy-finder-nhs-number")

    page.goto("/audit/patients/")
    page.get_by_label("Last name").fill(person.family_name)
    fill_date(page, "Date of birth", person.birth_date)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name=re.compile(r"patients? found$"))).to_be_visible()
    at_both_sizes(page, check_page, "privacy-finder-name")

    # The report, then narrowed to emergency access.
    named = re.compile(person.family_name, re.IGNORECASE)
    page.locator("main").get_by_role("link", name=named).first.click()
    expect(page.get_by_role("heading", name="Looks at the record")).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile("Grace Okafor")).first).to_be_visible()
    at_both_sizes(page, check_page, "privacy-access-report")
    page.get_by_label("Basis").select_option(label="Emergency access")
    page.get_by_role("button", name="Show these looks").click()
    narrowed = re.compile(r"Looks on the basis Emergency access\. 1 look,")
    expect(page.get_by_text(narrowed)).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile("Arjun Mehta")).first).to_be_visible()
    at_both_sizes(page, check_page, "privacy-access-report-filtered")

    # The emergency access's own page, from the report: its reviews so far.
    page.get_by_role("link", name=re.compile("^Open this access")).first.click()
    expect(page.get_by_role("cell", name="Still under investigation")).to_be_visible()
    expect(page.get_by_text(re.compile("waiting for the clinician")).first).to_be_visible()
    at_both_sizes(page, check_page, "privacy-break-glass-access")

    # An alert's evidence, from the queue's "Worth a look".
    page.goto("/audit/break-glass/")
    expect(page.get_by_role("heading", name=re.compile("Worth a look"))).to_be_visible()
    at_both_sizes(page, check_page, "privacy-review-queue")
    page.get_by_role("link", name=re.compile("Arjun Mehta .* used emergency access")).click()
    expect(page.locator("main")).to_contain_text("Arjun Mehta")
    at_both_sizes(page, check_page, "privacy-alert-evidence")
