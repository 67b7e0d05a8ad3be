"""An identity reviewer's day in a real browser, on the demo's own data: the source record of the
person registered twice (demo/load.py's register_duplicate_entry), reviewed and linked with a
confirmation and a reason; then the two register entries compared, the merge asked for (their
dates of birth differ), approved by the second reviewer (the first cannot), and undone. Each page
passes axe (WCAG 2.2 AA) and fits a 390px phone without scrolling sideways; screenshots at
1366x768 and 390x844 are kept under var/test-output/screenshots."""

import re

import pytest
from playwright.sync_api import Page, expect

from demo.load import DEMO_USERS, create_demo_users, register_duplicate_entry, register_population
from tests.browser.conftest import PASSWORD
from tests.browser.test_privacy_reports import at_both_sizes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
REVIEWER = next(user for user in DEMO_USERS if user.username == "reviewer")
CHECKER = next(user for user in DEMO_USERS if user.username == "checker")


@pytest.fixture
def demo(population):
    """The register as `make run` loads it (its population smaller), with the person registered
    twice, and their social care record queued as identity sync queues it (it holds no NHS
    number); the two reviewers able to sign in with a password here."""
    from django.contrib.auth import get_user_model

    from records import services
    from records.matching import Demographics
    from records.models import Patient, SourceSystem, UnmatchedRecord

    register_population(population)
    duplicate = register_duplicate_entry(population)
    create_demo_users()
    for username in ("reviewer", "checker"):
        user = get_user_model().objects.get(username=username)
        user.set_password(PASSWORD)
        user.save()
    person = population.people[1]
    view = person.source_views["social_care"]
    source = SourceSystem.objects.create(
        ods_code="LBR", name="Riverside Adult Social Care", kind="social_care",
        base_url="http://127.0.0.1:9/fhir",
    )  # fmt: skip
    services.queue_unmatched(
        source=source,
        local_id=view.local_id,
        demographics=Demographics(
            " ".join(view.given_names), view.family_name, view.birth_date, view.postcode
        ),
        reason=UnmatchedRecord.Reason.NO_NHS_NUMBER,
        actor=services.system_user(),
    )
    return Patient.objects.get(nhs_number=person.nhs_number), duplicate


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()


def test_a_reviewer_links_a_source_record_after_comparing_and_confirming_with_a_reason(
    demo, sign_in, check_page
):
    original, _ = demo
    page = sign_in("reviewer", totp_key=REVIEWER.totp_key)

    page.get_by_role("link", name="Identity reviews (1)").first.click()
    expect(page.get_by_role("heading", name="Identity reviews")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text(original.family_name)
    at_both_sizes(page, check_page, "identity-queue")

    page.get_by_role("link", name=re.compile("^Riverside Adult Social Care: ")).click()
    expect(page.get_by_role("heading", name=re.compile("^Register entry 1 of 2"))).to_be_visible()
    slipped = re.compile("^Date of birth: (day and month swapped|one of the day, month or year)")
    expect(page.get_by_text(slipped)).to_be_visible()
    at_both_sizes(page, check_page, "identity-record")

    # Entry 1 is the register entry under the person's own date of birth.
    page.get_by_role("button", name=re.compile(r"^Link \(same person\)\W*register entry 1")).click()
    expect(page.get_by_role("heading", name="Link the records")).to_be_visible()
    page.get_by_role("button", name="Link: they are the same person").click()
    expect(page).to_have_title(re.compile("^Error: Link the records"))
    expect(page.get_by_role("link", name="Enter why this is the same person")).to_be_visible()
    at_both_sizes(page, check_page, "identity-link-error")

    page.get_by_label("Why is this the same person?").fill("Same address and phone number")
    page.get_by_role("button", name="Link: they are the same person").click()
    expect(page.get_by_text(re.compile("Linked: the source's record"))).to_be_visible()
    expect(page.get_by_text(re.compile("Same address and phone number")).first).to_be_visible()
    at_both_sizes(page, check_page, "identity-record-linked")
    assert original.links.get().local_id


def test_a_merge_of_records_that_differ_is_asked_for_approved_by_another_and_undone(
    demo, sign_in, check_page
):
    original, duplicate = demo
    page = sign_in("reviewer", totp_key=REVIEWER.totp_key)

    page.get_by_role("link", name="Merging records").first.click()
    page.get_by_role("button", name="Choose two records to compare").click()
    page.get_by_role("button", name="Compare").click()
    expect(
        page.get_by_role("link", name="Enter the NHS number of the first record")
    ).to_be_visible()
    at_both_sizes(page, check_page, "identity-merge-choose-error")
    page.get_by_label("NHS number of one record").fill(original.nhs_number)
    page.get_by_label("NHS number of the other record").fill(duplicate.nhs_number)
    page.get_by_role("button", name="Compare").click()

    warning = re.compile("These records differ in date of birth and NHS number")
    expect(page.get_by_role("heading", name=warning)).to_be_visible()
    at_both_sizes(page, check_page, "identity-merge-compare")
    page.get_by_label(re.compile(f"NHS number {original.formatted_nhs_number}")).check()
    page.get_by_label("Why are these the same person?").fill("Same name, address and GP")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Ask for approval of this merge")).to_be_visible()
    at_both_sizes(page, check_page, "identity-merge-confirm")
    page.get_by_role("button", name="Ask for approval").click()
    expect(page.get_by_text(re.compile("You asked for this merge"))).to_be_visible()
    expect(page.get_by_role("button", name="Continue")).to_have_count(0)
    at_both_sizes(page, check_page, "identity-merge-requested")
    request_address = page.url
    sign_out(page)

    page = sign_in("checker", totp_key=CHECKER.totp_key)
    page.goto(request_address)
    page.get_by_label("Approve: they are the same person, merge them").check()
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_title(re.compile("^Error: Merge request"))
    page.get_by_label("Why?").fill("Checked the GP practice's record")
    page.get_by_role("button", name="Continue").click()
    at_both_sizes(page, check_page, "identity-merge-approve-confirm")
    page.get_by_role("button", name="Approve and merge").click()
    expect(page.get_by_text("Approved and merged.")).to_be_visible()
    expect(page.get_by_text(re.compile("Checked the GP|Same name, address")).first).to_be_visible()
    at_both_sizes(page, check_page, "identity-merged")
    duplicate.refresh_from_db()
    assert duplicate.merged_into == original

    page.get_by_label("Why is this merge being undone?").fill("The GP says two people")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Undo the merge").click()
    expect(page.get_by_text(re.compile("Merge undone"))).to_be_visible()
    at_both_sizes(page, check_page, "identity-unmerged")
    duplicate.refresh_from_db()
    assert duplicate.merged_into is None
