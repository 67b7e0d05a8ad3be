"""The administrator's manage-patient page with its errors in NHS.UK's words (no browser bubble),
the dates in three boxes, the withdrawal that asks first, and the administrator's and privacy
officer's homes: axe clean, screenshots at 1366x768 and 390x844, nothing wider than the phone."""

import datetime
import re

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from access import services
from access.models import Role, Team
from tests.browser.conftest import PASSWORD, SCREENSHOTS, screenshot
from tests.factories import PatientFactory, UserFactory, make_team, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SIZES = {"laptop": (1366, 768), "phone": (390, 844)}
ADMIN_KEY = "666f726d732d61646d696e2d6b65792d30303031"
PRIVACY_KEY = "666f726d732d707269766163792d6b65792d3031"


def with_password(user, totp_key: str):
    user.set_password(PASSWORD)
    user.save()
    TOTPDevice.objects.create(user=user, name="phone", key=totp_key, confirmed=True)
    return user


@pytest.fixture
def world(page: Page):
    """A community team caring for three people, two of whose relationships end within a
    fortnight, one with an objection; the record office's administrator and privacy officer."""
    setup = UserFactory(username="setup")
    nurses = make_team("Riverside District Nurses", Team.Kind.COMMUNITY_TEAM, ods_code="RXC")
    office = make_team("Shared care record office", Team.Kind.RECORD_OFFICE, ods_code="LCR01")
    patients = [PatientFactory() for _ in range(3)]
    today = timezone.localdate()
    for n, patient in enumerate(patients):
        services.start_relationship(
            patient=patient, team=nurses, kind="referral", reason="wound care", actor=setup,
            ends_on=today + datetime.timedelta(days=3 + 8 * n),
        )  # fmt: skip
    services.record_objection(patient=patients[1], notes="asked by letter", actor=setup)
    return {
        "patients": patients,
        "admin": with_password(member(office, Role.ADMINISTRATOR, "admin"), ADMIN_KEY),
        "privacy": with_password(member(office, Role.PRIVACY_OFFICER, "privacy"), PRIVACY_KEY),
    }


def at_both_sizes(page: Page, check_page, name: str) -> None:
    """Screenshots and axe at a laptop's size and a phone's; nothing wider than the phone."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, SCREENSHOTS / f"{name}-{size}-screen.png")
        check_page(f"{name}-{size}")
        if size == "phone":
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{name} is {wide}px wide on a {width}px phone"
    page.set_viewport_size({"width": 1366, "height": 768})


def test_the_manage_page_shows_its_errors_in_an_error_summary_with_no_bubbles(
    world, sign_in, check_page
):
    page = sign_in("admin", totp_key=ADMIN_KEY)
    patient = world["patients"][0]
    page.goto(f"/manage/patients/{patient.pk}/")
    expect(page.get_by_label("Team", exact=True)).to_have_value("")
    expect(page.locator("#id_team option").first).to_have_text("Choose a team")

    # A date with no month, and nothing else: the page answers, not the browser.
    page.get_by_role("group", name="Ends on").get_by_label("Day").fill("1")
    page.get_by_role("group", name="Ends on").get_by_label("Year").fill("2030")
    page.get_by_role("button", name="Record", exact=True).click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    expect(page).to_have_title(
        re.compile(rf"^Error: Care relationships . {re.escape(patient.full_name)} . Shared care")
    )
    summary = page.locator(".nhsuk-error-summary")
    expect(summary.get_by_role("link", name="Choose a team or enter a username")).to_be_visible()
    expect(
        summary.get_by_role("link", name="The date the relationship ends must include a month")
    ).to_be_visible()
    summary.get_by_role("link", name="The date the relationship ends must include a month").click()
    expect(page.locator("#id_ends_on_month")).to_be_focused()
    at_both_sizes(page, check_page, "manage-patient-errors")

    # Ending without a reason: the same page, the error on the row's field.
    page.get_by_role("button", name="End", exact=True).click()
    expect(
        page.get_by_role("link", name="Enter a reason for ending the relationship")
    ).to_be_visible()
    check_page("manage-patient-end-error")


def test_withdrawing_an_objection_asks_first(world, sign_in, check_page):
    page = sign_in("admin", totp_key=ADMIN_KEY)
    page.goto(f"/manage/patients/{world['patients'][1].pk}/")
    page.get_by_role("link", name="Withdraw the objection").click()
    expect(
        page.get_by_role("heading", name="Are you sure you want to withdraw the objection")
    ).to_be_visible()
    at_both_sizes(page, check_page, "withdraw-objection")
    page.get_by_role("button", name="Withdraw the objection").click()
    expect(page.get_by_text("Objection withdrawn")).to_be_visible()


def test_the_administrator_s_home_shows_the_work_waiting(world, sign_in, check_page):
    page = sign_in("admin", totp_key=ADMIN_KEY)
    expect(page.get_by_role("heading", name="Work waiting")).to_be_visible()
    expect(page.get_by_text("2 care relationships end in the next 14 days")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("cares for"))).to_have_count(0)
    for patient in world["patients"]:
        expect(page.locator("main")).not_to_contain_text(patient.family_name.upper())
    at_both_sizes(page, check_page, "home-administrator")


def test_the_privacy_officer_s_home_shows_the_queue_alerts_and_questions(
    world, sign_in, check_page
):
    page = sign_in("privacy", totp_key=PRIVACY_KEY)
    expect(page.get_by_text("Nothing waits for review.")).to_be_visible()
    expect(page.get_by_role("heading", name="Alerts from the last week")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("cares for"))).to_have_count(0)
    at_both_sizes(page, check_page, "home-privacy-officer")
