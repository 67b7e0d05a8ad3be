"""A letter in a real browser: opened from the record's table, the simulated hospital's PDF is
sent inline and not stored, and the look leaves exactly one access event naming it; a letter
past the size limit says so on an accessible page that fits a phone."""

import re

import pytest
from playwright.sync_api import Page, expect

from audit.models import AccessEvent
from records.categories import ALL_CATEGORIES
from tests.browser.conftest import PASSWORD
from tests.test_documents_from_sources import gp_caring_for_someone_with_letters

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def letters(page: Page, population, simulated_source):
    """A GP caring for someone with letters at the simulated hospital, whose record the
    hospital has already answered in full (so the page asks no worker)."""
    gp, patient, _, _, source = gp_caring_for_someone_with_letters(
        population, simulated_source, ALL_CATEGORIES
    )
    gp.set_password(PASSWORD)
    gp.save()
    return patient, source


def open_letters_tab(page: Page, patient) -> None:
    page.goto(f"/patients/{patient.pk}/")
    page.get_by_role("tab", name="Letters and documents").click()
    expect(page.locator("#category-documents")).to_be_visible()


def test_a_letter_opens_as_the_hospitals_pdf_and_leaves_exactly_one_access_event(letters, sign_in):
    patient, source = letters
    page = sign_in("gp")
    open_letters_tab(page, patient)
    link = page.locator("#category-documents").get_by_role(
        "link", name=re.compile("^Open document")
    )
    expect(link.first).to_be_visible()
    before = AccessEvent.objects.count()

    with page.expect_response(re.compile(r"/documents/")) as opened:
        link.first.click()
    page.wait_for_load_state()
    response = opened.value

    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("inline; ")
    assert "no-store" in response.headers["cache-control"]
    # Chromium shows it in its own PDF viewer, at the document's address (not as a download).
    assert "/documents/" in page.url
    assert AccessEvent.objects.count() == before + 1
    event = AccessEvent.objects.latest("sequence")
    assert event.resource_ids[0].startswith(f"{source.ods_code}/DocumentReference/")
    assert event.categories == ["documents"]


def test_a_letter_past_the_size_limit_says_so_on_a_page_that_fits_a_phone(
    letters, sign_in, check_page, settings
):
    patient, source = letters
    settings.LCR_DOCUMENT_MAX_BYTES = 100
    page = sign_in("gp")
    open_letters_tab(page, patient)
    letter = page.locator("#category-documents").get_by_role("link", name=re.compile("^Open doc"))
    address = letter.first.get_attribute("href")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(address)

    expect(page.get_by_role("heading", name="This document cannot be shown")).to_be_visible()
    expect(page.locator("#document-problem")).to_contain_text(
        f"{source.name}: The document is 2.22 KB; the record opens documents up to 100 bytes."
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    check_page("document-too-large-phone")
