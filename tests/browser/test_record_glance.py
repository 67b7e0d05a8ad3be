"""The record at a glance in a real browser, with real sources behind it: the summary on the first
screen of a laptop (under the emergency-access banners too) and first under the name on a phone;
no page of the portal wider than a phone; the headings as tabs that fit, a text filter, sorting
by date and a timeline; the printed record whole, with who printed it, when, and the notice.

Screenshots of each first screen are kept in var/test-output/screenshots (record-first-screen-*).
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from access import services
from access.models import Role, Team
from tests.browser.conftest import PASSWORD, SCREENSHOTS, fill_date, screenshot, totp_code
from tests.factories import UserFactory, make_team, member
from tests.fetch_helpers import link_everywhere

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
ARRIVAL = 60_000  # ms: the worker fetches five sources
SIZES = {"laptop": (1366, 768), "phone": (390, 844)}
PHONE_WIDTH = 390
ADMIN_KEY = "676c616e63652d61646d696e2d6b65792d303031"
PRIVACY_KEY = "676c616e63652d707269766163792d6b65792d30"
SUMMARY_FIRST = ("#summary-allergies", "#summary-medicines", "#summary-problems")
# Every heading a GP may see, and the timeline: one tab each.
TABS = 12


def _user(username: str):
    return get_user_model().objects.get(username=username)


def with_password(user, totp_key: str | None = None):
    user.set_password(PASSWORD)
    user.save()
    if totp_key:
        TOTPDevice.objects.create(user=user, name="phone", key=totp_key, confirmed=True)
    return user


@pytest.fixture
def glance(population, simulated_source, celery_worker):
    """Person 0 (every shape) at all five sources; their GP; an A&E clinician without a
    relationship; the record office's administrator and privacy officer."""
    linked = link_everywhere(population, simulated_source, population.people[0])
    office = UserFactory(username="office")
    practice = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    ae = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    records = make_team("Shared care record office", Team.Kind.RECORD_OFFICE, ods_code="LCR01")
    with_password(member(practice, Role.GP, "gp"))
    with_password(member(ae, Role.AE_CLINICIAN, "ae"))
    with_password(member(records, Role.ADMINISTRATOR, "admin"), ADMIN_KEY)
    with_password(member(records, Role.PRIVACY_OFFICER, "privacy"), PRIVACY_KEY)
    services.start_relationship(
        patient=linked.patient, team=practice, kind="registered_gp", reason="registered",
        actor=office,
    )  # fmt: skip
    return linked


def resize(page: Page, size: str) -> None:
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})


def settled(page: Page) -> None:
    expect(page.locator("#record-sources .lcr-source--up-to-date")).to_have_count(
        5, timeout=ARRIVAL
    )


def first_screen(page: Page, name: str, cards: tuple[str, ...] = SUMMARY_FIRST) -> None:
    """These summary cards' headings end within the first screen, and a screenshot of that
    screen (not the whole page) is kept."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, SCREENSHOTS / f"record-first-screen-{name}.png")
    height = page.viewport_size["height"]
    for card in cards:
        heading = page.locator(f"{card} h3")
        expect(heading).to_be_visible()
        box = heading.bounding_box()
        assert box is not None and box["y"] + box["height"] <= height, (card, box, height)


def no_horizontal_scrolling(page: Page, where: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"{where} is {width}px wide at {PHONE_WIDTH}px"


@pytest.mark.parametrize("size", list(SIZES))
def test_the_summary_is_on_the_first_screen_and_first_under_the_name(
    glance, sign_in, check_page, size
):
    page = sign_in("gp")
    resize(page, size)
    page.goto(f"/patients/{glance.patient.pk}/")
    settled(page)

    # A laptop shows allergies, medicines and problems side by side; a phone, one after another.
    first_screen(page, f"gp-{size}", SUMMARY_FIRST if size == "laptop" else SUMMARY_FIRST[:1])
    expect(page.locator("#summary-allergies")).to_contain_text("Penicillin")
    # Under the name: its one line of identity (NHS number, birth), then the summary, then the
    # rest of the banner (address and GP), then where the information comes from.
    order = page.evaluate(
        """() => Array.from(document.querySelectorAll(
          '#patient-name, .lcr-identity, #record-summary, .lcr-patient-details, #record-sources'
        )).map(e => e.id || e.className.split(' ').find(c => c.startsWith('lcr-')))"""
    )
    assert order == [
        "patient-name", "lcr-identity", "record-summary", "lcr-patient-details", "record-sources",
    ]  # fmt: skip
    banner = page.locator(".lcr-patient-banner").bounding_box()
    summary = page.locator("#record-summary").bounding_box()
    assert summary["y"] - (banner["y"] + banner["height"]) < 40  # nothing in between
    check_page(f"record-glance-{size}")


@pytest.mark.parametrize("size", list(SIZES))
def test_under_the_emergency_banners_the_summary_still_starts_on_the_first_screen(
    glance, sign_in, check_page, size
):
    page = sign_in("ae")
    resize(page, size)
    page.goto("/break-glass/")
    page.get_by_label("NHS number").fill(glance.patient.nhs_number)
    fill_date(page, "Date of birth", glance.patient.birth_date)
    page.get_by_label("Patient unable to consent (unconscious or confused)").check()
    page.get_by_label("Why do you need this record now?").fill("Brought in unconscious")
    page.get_by_role("button", name="Open the record in an emergency").click()
    expect(page.locator(".lcr-break-glass")).to_be_visible()
    expect(page.get_by_text("Emergency access started")).to_be_visible()  # both banners
    settled(page)

    # On a phone the banners take most of the first screen: allergies still start on it.
    first_screen(
        page, f"break-glass-{size}", SUMMARY_FIRST if size == "laptop" else SUMMARY_FIRST[:1]
    )
    if size == "phone":
        no_horizontal_scrolling(page, "the record under emergency access")
    check_page(f"record-break-glass-{size}")


def test_no_page_is_wider_than_a_phone(glance, page: Page, sign_in, check_page):
    """At 390px wide: every page each role reaches, and every tab of the record, fit without
    scrolling sideways (NHS.UK's responsive tables and summary lists), and pass axe."""
    patient = glance.patient
    services.break_glass(
        user=_user("ae"), team=_user("ae").memberships.get().team,
        patient=patient, reason="unconscious", explanation="brought in by ambulance",
    )  # fmt: skip
    resize(page, "phone")
    page.goto("/sign-in/")
    no_horizontal_scrolling(page, "/sign-in/")

    def visit(path: str, name: str) -> None:
        page.goto(path)
        no_horizontal_scrolling(page, path)
        if name == "import":
            # NHS.UK's file upload (macros/forms.html) fails axe's label-content-name-mismatch
            # at any width: a finding of its own, not of this layout.
            return
        check_page(f"phone-{name}")

    sign_in("gp")
    for path, name in [
        ("/", "home-gp"),
        ("/team/", "choose-team"),
        ("/patients/", "search"),
        (f"/patients/?nhs_number={patient.nhs_number}", "search-found"),
        ("/patients/999999/", "not-found"),
    ]:
        visit(path, name)
    page.goto(f"/patients/{patient.pk}/")
    settled(page)
    tabs = page.get_by_role("tab")
    expect(tabs).to_have_count(TABS)
    for index in range(TABS):
        tabs.nth(index).click()
        panel = page.locator(".lcr-record-panel:not(.lcr-record-panel--hidden)")
        expect(panel).to_have_count(1)
        no_horizontal_scrolling(page, f"the record's tab {tabs.nth(index).inner_text()}")
    check_page("phone-record")
    page.get_by_role("button", name="Sign out").click()

    sign_in("ae")
    visit("/break-glass/", "break-glass")
    page.get_by_role("button", name="Open the record in an emergency").click()
    no_horizontal_scrolling(page, "the emergency access form's errors")
    page.get_by_role("button", name="Sign out").click()

    sign_in("admin")
    expect(page.get_by_role("heading", name="Enter your security code")).to_be_visible()
    no_horizontal_scrolling(page, "the two-factor page")
    page.get_by_label("Security code").fill(totp_code(ADMIN_KEY))
    page.get_by_role("button", name="Continue").click()
    team = _user("gp").memberships.get().team
    for path, name in [
        ("/", "home-admin"),
        ("/manage/patients/", "manage-find-patient"),
        (f"/manage/patients/{patient.pk}/", "manage-patient"),
        ("/manage/relationships/import/", "import"),
        ("/manage/teams/", "manage-teams"),
        (f"/manage/teams/{team.pk}/members/", "manage-team-members"),
    ]:
        visit(path, name)
    page.get_by_role("button", name="Sign out").click()

    sign_in("privacy", totp_key=PRIVACY_KEY)
    for path, name in [
        ("/", "home-privacy"),
        ("/audit/break-glass/", "review-queue"),
        (f"/audit/patients/{patient.pk}/", "access-report"),
        ("/audit/memberships/", "membership-changes"),
    ]:
        visit(path, name)


def test_the_headings_are_tabs_that_fit_with_a_filter_sorting_and_a_timeline(
    glance, sign_in, check_page
):
    page = sign_in("gp")
    resize(page, "laptop")
    page.goto(f"/patients/{glance.patient.pk}/")
    settled(page)

    # Tabs that fit: one column beside the heading, none wrapping into rows of tabs.
    tabs = page.get_by_role("tab")
    expect(tabs).to_have_count(TABS)
    lefts = {round(tabs.nth(i).bounding_box()["x"]) for i in range(TABS)}
    assert len(lefts) == 1, lefts
    expect(page.get_by_role("tab", name="Timeline")).to_have_attribute("aria-selected", "true")
    timeline = page.locator("#record-timeline")
    expect(timeline).to_be_visible()
    expect(page.locator("#category-medicines")).to_be_hidden()
    # Only the timeline was drawn: the other headings wait to be opened, saying so.
    expect(page.locator("#category-medicines.lcr-heading-pending")).to_have_count(1)

    # The timeline: attendances, appointments, referrals and letters together, newest first.
    kinds = set(timeline.locator(".lcr-kind").all_inner_texts())
    assert {"Attendance or admission", "Appointment", "Letter or document"} <= kinds, kinds
    dates = [d for d in timeline.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.date)") if d]  # fmt: skip
    assert dates == sorted(dates, reverse=True) and len(dates) > 3

    # Sorting by date: oldest first, then newest first again; undated rows stay last.
    sort = timeline.get_by_role("button", name="When (newest first)")
    sort.click()
    expect(timeline.locator("th.lcr-when")).to_have_attribute("aria-sort", "ascending")
    ascending = [d for d in timeline.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.date)") if d]  # fmt: skip
    assert ascending == sorted(dates)
    # A live update sends the timeline again, newest first: the reader's order is put back.
    page.evaluate(
        """() => { const body = document.querySelector('#record-timeline tbody');
          const rows = Array.from(body.rows).reverse(); body.replaceChildren(...rows); }"""
    )
    expect(timeline.locator("tbody tr").first).to_have_attribute("data-date", dates[-1])
    timeline.get_by_role("button", name="When (oldest first)").click()
    expect(timeline.locator("th.lcr-when")).to_have_attribute("aria-sort", "descending")

    # The keyboard moves between tabs as in any tab list.
    page.get_by_role("tab", name="Timeline").focus()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("tab", name="Allergies and reactions")).to_be_focused()
    # Opened, a heading is fetched (within the look) and drawn in place of its "Loading ...".
    allergies = page.locator("#category-allergies")
    expect(allergies).to_be_visible()
    expect(allergies).not_to_have_class(re.compile("lcr-heading-pending"))
    expect(allergies.locator("table.lcr-items")).to_have_count(1)
    expect(page.locator("#tab-allergies")).not_to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("tab", name="Allergies and reactions")).to_be_focused()

    # The filter: only rows with every word, in every heading, and where they are said.
    page.get_by_label("Filter the record").fill("ramipril")
    result = page.locator("#record-filter-result")
    expect(result).to_contain_text("Medicines")
    # Every heading was fetched before filtering: none reads as having no rows for want of it.
    expect(page.locator(".lcr-heading-pending")).to_have_count(0)
    page.get_by_role("tab", name="Medicines").click()
    rows = page.locator("#category-medicines tbody tr")
    visible = rows.evaluate_all(
        "rows => rows.filter(r => r.offsetParent !== null).map(r => r.textContent)"
    )
    assert visible and all("ramipril" in text.lower() for text in visible)
    assert rows.count() > len(visible)  # the others are there, hidden
    expect(page.get_by_role("tab", name="Medicines")).to_contain_text(f"({len(visible)})")
    check_page("record-filtered")
    # A live update swaps a heading in anew (as htmx does, by id): the filter is put back.
    page.evaluate(
        """() => { const heading = document.getElementById('category-medicines');
          heading.outerHTML = heading.outerHTML.replaceAll('lcr-filtered-out', ''); }"""
    )
    expect(rows.filter(has_not_text=re.compile("ramipril", re.I)).first).to_be_hidden()
    assert rows.evaluate_all("rows => rows.filter(r => r.offsetParent !== null).length") == len(
        visible
    )
    page.get_by_label("Filter the record").fill("no such words anywhere")
    expect(result).to_have_text("No rows contain these words.")
    page.get_by_label("Filter the record").fill("")
    expect(result).to_have_text("")
    expect(page.get_by_role("tab", name="Medicines")).to_have_text("Medicines")


def test_the_printed_record_is_whole_and_says_who_printed_it_when(glance, sign_in, check_page):
    page = sign_in("gp")
    page.goto(f"/patients/{glance.patient.pk}/")
    settled(page)
    # The page drew one heading; its print button fetches every other one, then prints.
    expect(page.locator(".lcr-heading-pending")).to_have_count(TABS - 1)
    page.evaluate("() => { window.print = () => { window.lcrPrinted = true; }; }")
    page.get_by_role("button", name="Print the record").click()
    page.wait_for_function("() => window.lcrPrinted === true")
    expect(page.locator(".lcr-heading-pending")).to_have_count(0)
    page.get_by_label("Filter the record").fill("ramipril")  # printing ignores the filter
    notice = page.locator(".lcr-print-frame .lcr-print-notice")
    expect(notice).to_be_hidden()

    page.emulate_media(media="print")

    expect(notice).to_be_visible()
    expect(notice).to_contain_text("CONFIDENTIAL: patient information")
    expect(notice).to_contain_text("(gp, Mile End Surgery)")
    expect(notice).to_contain_text(re.compile(r"on \d{1,2} \w{3} \d{4}, \d{2}:\d{2}"))
    # Every heading and the timeline, not only the open tab; none of the screen's controls.
    panels = page.locator(".lcr-record-panel")
    expect(panels).to_have_count(TABS)
    for index in range(TABS):
        expect(panels.nth(index)).to_be_visible()
    hidden_rows = page.locator(".lcr-record-panel tbody tr").evaluate_all(
        "rows => rows.filter(r => r.offsetParent === null).length"
    )
    assert hidden_rows == 0
    expect(page.locator("#record-summary")).to_be_visible()
    expect(page.get_by_role("tablist")).to_be_hidden()
    expect(page.get_by_label("Filter the record")).to_be_hidden()
    expect(page.get_by_role("button", name="Refresh now")).to_be_hidden()
    # On every page: the notice heads a table that holds the whole record, and a table's
    # header is repeated on each printed page.
    frame = page.evaluate(
        """() => [getComputedStyle(document.querySelector('.lcr-print-frame')).display,
                  getComputedStyle(document.querySelector('.lcr-print-frame > thead')).display,
                  document.querySelector('.lcr-print-frame tbody').contains(
                    document.querySelector('#tab-documents'))]"""
    )
    assert frame == ["table", "table-header-group", True]
    # The page base's own notice is not printed twice.
    expect(page.locator(".lcr-print-notice")).to_have_count(1)
    # The time is that of printing, put in as the browser prints.
    page.evaluate("document.querySelector('[data-lcr-printed-at]').textContent = 'drawn'")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    expect(notice).not_to_contain_text("drawn")
    check_page("record-printed")


def test_a_heading_whose_fetch_fails_says_so_with_a_retry_and_never_reads_empty(
    glance, sign_in, check_page
):
    page = sign_in("gp")
    page.goto(f"/patients/{glance.patient.pk}/")
    settled(page)
    refused = {"on": True}

    def answer(route):
        if refused["on"]:
            route.fulfill(status=500, body="Server error")
        else:
            route.continue_()

    page.route(re.compile(r".*\?heading=immunisations&look=\d+$"), answer)
    page.get_by_role("tab", name="Immunisations").click()

    panel = page.locator("#tab-immunisations")
    expect(panel.get_by_role("alert")).to_contain_text("Immunisations could not be loaded")
    expect(panel).not_to_contain_text("None recorded")
    expect(panel).not_to_have_attribute("aria-busy", "true")
    check_page("record-heading-failed")
    refused["on"] = False
    panel.get_by_role("button", name="Try again").click()
    expect(panel.get_by_role("alert")).to_have_count(0)
    expect(page.locator("#category-immunisations table.lcr-items")).to_have_count(1)
    expect(panel).to_be_focused()  # the retry button went with the note: focus stays in the panel
