"""The portal in a real browser: signing in, lockout, two-factor, and an accessibility check
(axe-core, WCAG 2.2 AA: no serious or critical violations) with a screenshot of each main page."""

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from access import services
from access.models import Role, Team
from tests.browser.conftest import PASSWORD
from tests.factories import PatientFactory, UserFactory, make_team, member

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]
ADMIN_KEY = "62726f777365722d61646d696e2d6b65792d3031"
PRIVACY_KEY = "62726f777365722d707269766163792d6b65792d"


def with_password(user, totp_key: str | None = None):
    user.set_password(PASSWORD)
    user.save()
    if totp_key:
        TOTPDevice.objects.create(user=user, name="phone", key=totp_key, confirmed=True)
    return user


@pytest.fixture
def world(page: Page):
    """A social care team caring for three people, an A&E clinician, and the record office's
    administrator and privacy officer (each with an authenticator)."""
    office = UserFactory(username="setup-office")
    social = make_team("Riverside Adult Social Care", Team.Kind.SOCIAL_CARE_TEAM, ods_code="LBR")
    ae = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    records = make_team("Shared care record office", Team.Kind.RECORD_OFFICE, ods_code="LCR01")
    patients = [PatientFactory() for _ in range(3)]
    for patient in patients:
        services.start_relationship(
            patient=patient, team=social, kind="social_care_case", reason="open case", actor=office
        )
    return {
        "patients": patients,
        "social": with_password(member(social, Role.SOCIAL_WORKER, "social")),
        "ae": with_password(member(ae, Role.AE_CLINICIAN, "ae")),
        "admin": with_password(member(records, Role.ADMINISTRATOR, "admin"), ADMIN_KEY),
        "privacy": with_password(member(records, Role.PRIVACY_OFFICER, "privacy"), PRIVACY_KEY),
    }


def test_sign_in_page_is_accessible(page: Page, check_page):
    page.goto("/sign-in/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    check_page("sign-in")


def test_a_social_worker_signs_in_and_sees_their_patients(world, sign_in, check_page):
    page = sign_in("social")
    expect(page.get_by_role("heading", name="Patients Riverside Adult Social Care cares for"))
    for patient in world["patients"]:
        expect(page.get_by_role("link", name=patient.full_name)).to_be_visible()
    expect(page.get_by_text("Acting for Riverside Adult Social Care")).to_be_visible()
    check_page("home-social-worker")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_wrong_passwords_lock_the_account_out(world, sign_in, check_page):
    for _ in range(4):
        page = sign_in("social", "not my password")
        expect(page.get_by_text("Your username or password is not right")).to_be_visible()
    page = sign_in("social", "not my password")
    expect(page.get_by_text("You have tried to sign in too many times")).to_be_visible()
    page = sign_in("social")  # the right password, too late
    expect(page.get_by_text("You have tried to sign in too many times")).to_be_visible()
    check_page("sign-in-locked-out")


def test_an_administrator_must_pass_two_factor(world, sign_in, check_page):
    page = sign_in("admin")
    expect(page.get_by_role("heading", name="Enter your security code")).to_be_visible()
    check_page("two-factor")
    page.goto("/manage/patients/")
    expect(page.get_by_role("heading", name="Enter your security code")).to_be_visible()

    page.get_by_label("Security code").fill("12")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("link", name="Enter the 6 digits of the code")).to_be_visible()
    check_page("two-factor-error")


def test_an_administrators_pages_are_accessible(world, sign_in, check_page):
    page = sign_in("admin", totp_key=ADMIN_KEY)
    expect(page.get_by_role("heading", name="Shared care record", exact=True)).to_be_visible()
    check_page("home-administrator")

    page.goto("/manage/patients/")
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("link", name="Enter the patient's NHS number")).to_be_visible()
    check_page("manage-find-patient-error")

    patient = world["patients"][0]
    page.get_by_label("NHS number").fill(patient.formatted_nhs_number)
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("heading", name="Who cares for this patient")).to_be_visible()
    check_page("manage-patient")

    page.goto("/manage/teams/")
    check_page("manage-teams")
    page.get_by_role("link", name=world["social"].memberships.get().team.name).click()
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Role", exact=True).select_option("gp")
    page.get_by_label("Why they join the team in this role").fill("cover")
    page.get_by_role("button", name="Add to the team").click()
    refused = "Nobody adds themselves to a team or changes their own role."
    expect(page.get_by_text(refused, exact=True)).to_be_visible()
    check_page("manage-team-members-error")


def test_a_privacy_officers_pages_are_accessible(world, sign_in, check_page):
    services.break_glass(
        user=world["ae"],
        team=world["ae"].memberships.get().team,
        patient=world["patients"][1],
        reason="unconscious",
        explanation="brought in by ambulance",
    )
    page = sign_in("privacy", totp_key=PRIVACY_KEY)
    expect(page.get_by_text("emergency access waits for your review")).to_be_visible()
    check_page("home-privacy-officer")

    page.get_by_role("link", name="Changes to who is in which team").click()
    expect(page.get_by_role("heading", name="Changes to who is in which team")).to_be_visible()
    check_page("membership-changes")
    page.goto("/")

    page.get_by_role("link", name="Open the review queue").click()
    expect(page.get_by_role("heading", name="Emergency access to review")).to_be_visible()
    check_page("review-queue")

    # The queue names no patient: who they are is in the access report, whose opening is a look.
    expect(page.locator("main")).not_to_contain_text(world["patients"][1].full_name)

    # A flag without a note is refused on the access's page, the note kept to fix.
    page.get_by_role("button", name="Flag").first.click()
    expect(
        page.get_by_text("Say why you are flagging this access for investigation.").first
    ).to_be_visible()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    check_page("break-glass-access-error")
    page.get_by_label("Flag for investigation").check()
    page.get_by_label("Note").fill("no attendance recorded that night")
    page.get_by_role("button", name="Record review").click()
    expect(page.get_by_text("Review recorded.")).to_be_visible()
    expect(page.get_by_role("cell", name="no attendance recorded that night")).to_be_visible()
    check_page("break-glass-access")

    page.get_by_role("link", name="Review queue").click()
    page.get_by_label("Show").select_option("all")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("Flagged for investigation").first).to_be_visible()
    check_page("review-queue-all")
    page.locator("main").get_by_role("link", name=re.compile("^Access report")).first.click()
    expect(page.get_by_role("heading", name="Looks at the record")).to_be_visible()
    check_page("access-report")


def test_the_break_glass_form_is_accessible(world, sign_in, check_page):
    page = sign_in("ae")
    page.get_by_role("link", name="use emergency access").click()
    expect(page.get_by_role("heading", name="Emergency access", exact=True)).to_be_visible()
    check_page("break-glass")

    page.get_by_role("button", name="Open the record in an emergency").click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    check_page("break-glass-errors")


def test_not_found_page_is_accessible_and_leaks_nothing(world, sign_in, check_page):
    page = sign_in("social")
    response = page.goto("/patients/999999/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    check_page("not-found")


def test_the_accessibility_check_finds_what_it_should(page: Page):
    """The check above could pass by checking nothing: on a page with an unlabelled field and
    unreadable text, it reports both."""
    from tests.browser.conftest import axe_violations

    page.set_content(
        '<html lang="en"><head><title>Bad</title></head><body><main><h1>Bad</h1>'
        '<input type="text"><p style="color:#ccc;background:#fff">faint</p></main></body></html>'
    )
    found = {violation["id"] for violation in axe_violations(page)}
    assert {"label", "color-contrast"} <= found


def test_keyboard_users_skip_to_the_content_and_reach_the_team_chooser(world, sign_in, check_page):
    page = sign_in("social")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main#maincontent")).to_be_focused()

    page.get_by_role("link", name="Change team").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("group", name="Which team are you working for?")).to_be_visible()
    check_page("choose-team")


def test_a_printed_page_says_it_is_confidential_and_drops_the_controls(world, sign_in, check_page):
    page = sign_in("social")
    expect(page.get_by_text("CONFIDENTIAL: patient information")).to_be_hidden()
    page.emulate_media(media="print")
    expect(page.get_by_text("CONFIDENTIAL: patient information")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    check_page("home-printed")
