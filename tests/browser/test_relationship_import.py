"""The relationship import in a real browser, as an administrator does it: upload a file with no
file chosen (the NHS.UK error summary, never the browser's bubble), then a file whose check shows
what each row will do, import exactly that file from the check's button, read and download the
results, and check the same file again (nothing left to import). Each page passes axe and fits
a 390px phone without scrolling sideways; screenshots under var/test-output/screenshots."""

import csv

import pytest
from playwright.sync_api import Page, expect

from access import services
from access.models import CareRelationship, Role, Team
from tests.browser.test_portal import ADMIN_KEY, with_password
from tests.factories import PatientFactory, UserFactory, make_team, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture
def world(page: Page):
    records = make_team("Shared care record office", Team.Kind.RECORD_OFFICE, ods_code="LCR01")
    nurses = make_team("Riverside District Nurses", Team.Kind.COMMUNITY_TEAM, ods_code="RXC")
    patients = [PatientFactory() for _ in range(3)]
    services.start_relationship(
        patient=patients[0], team=nurses, kind="referral", reason="wound care",
        actor=UserFactory(username="setup-office"),
    )  # fmt: skip
    with_password(member(records, Role.ADMINISTRATOR, "admin"), ADMIN_KEY)
    lines = ["nhs_number,team_ods_code,team_name,kind,starts_on,ends_on,reason"] + [
        f"{p.formatted_nhs_number},RXC,Riverside District Nurses,referral,1/12/2026,"
        "31 March 2027,Leg ulcer dressings twice a week"
        for p in patients
    ]
    return {"patients": patients, "file": ("\r\n".join(lines) + "\r\n").encode()}


def at_both_sizes(page: Page, check_page, name: str) -> None:
    """axe and a screenshot at a laptop's size and a phone's; nothing wider than the phone."""
    check_page(f"{name}-laptop")
    page.set_viewport_size(PHONE)
    check_page(f"{name}-phone")
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"{name} is {wide}px wide on a 390px phone"
    page.set_viewport_size(LAPTOP)


def upload(page: Page, data: bytes) -> None:
    page.goto("/manage/relationships/import/")
    page.get_by_label("Upload a CSV file").set_input_files(
        files=[{"name": "district-nurses.csv", "mimeType": "text/csv", "buffer": data}]
    )
    page.get_by_role("button", name="Check the file").click()


def test_an_administrator_checks_a_file_then_imports_exactly_it(world, sign_in, check_page):
    page = sign_in("admin", totp_key=ADMIN_KEY)
    page.set_viewport_size(LAPTOP)

    page.goto("/manage/relationships/import/")
    page.get_by_role("button", name="Check the file").click()
    expect(page).to_have_title("Error: Import care relationships \N{EN DASH} Shared care record")
    expect(page.get_by_role("link", name="Select a CSV file of care relationships")).to_be_visible()
    at_both_sizes(page, check_page, "import-upload-error")

    upload(page, world["file"])
    expect(page.get_by_role("heading", name="Check the file")).to_be_visible()
    main = page.locator("main")
    expect(main).to_contain_text("district-nurses.csv")
    expect(main).to_contain_text("2 relationships will be created")
    expect(main).to_contain_text("1 is already in place")
    expect(main.get_by_text("Already in place", exact=True)).to_be_visible()
    assert not CareRelationship.objects.filter(ends_on__isnull=False).exists()
    at_both_sizes(page, check_page, "import-check")

    page.get_by_role("button", name="Import these 2 relationships").click()
    expect(page.get_by_role("heading", name="Imported 2 relationships")).to_be_visible()
    expect(main).to_contain_text("1 already in place, left as it was")
    at_both_sizes(page, check_page, "import-results")
    assert CareRelationship.objects.count() == 3

    with page.expect_download() as download:
        page.get_by_role("link", name="Download what happened to each row (CSV)").click()
    with open(download.value.path(), encoding="utf-8", newline="") as written:
        rows = list(csv.DictReader(written))
    assert [row["outcome"] for row in rows] == ["Already in place", "Created", "Created"]

    upload(page, world["file"])
    expect(main).to_contain_text("Every relationship in this file is already in place.")
    expect(main.get_by_role("button")).to_have_count(0)
    at_both_sizes(page, check_page, "import-check-all-in-place")
    assert CareRelationship.objects.count() == 3
