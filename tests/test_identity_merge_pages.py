"""Merging from the portal: choosing two records by NHS number, the comparison with its warning
when date of birth, sex or NHS number differ, the confirmation, the second person's approval
(never the asker's own), refusal, and undoing a merge; every form empty and with junk gives the
NHS.UK error summary, never a 500; every page naming the two records records a look at each."""

import datetime

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AccessEvent, SearchEvent
from records.models import Link, PatientMerge, PatientMergeRequest, Sex, SupersededNhsNumber
from tests.factories import LinkFactory, PatientFactory, UserFactory, identity_reviewer

pytestmark = pytest.mark.django_db


@pytest.fixture
def asker(client):
    user = identity_reviewer("asker")
    client.force_login(user)
    return client, user


@pytest.fixture
def approver():
    """A second reviewer in a browser of their own, past their second factor."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = identity_reviewer("approver")
    other = Client()
    other.force_login(user)
    device = TOTPDevice.objects.create(user=user, name="test device", confirmed=True)
    session = other.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return other, user


def compare_address(first, second) -> str:
    return f"{reverse('identity-merge-compare')}?first={first.pk}&second={second.pk}"


def looks(user) -> list[int]:
    return sorted(AccessEvent.objects.filter(user=user).values_list("patient_id", flat=True))


def test_choosing_two_records_by_nhs_number_opens_their_comparison_and_records_the_searches(
    asker,
):
    client, user = asker
    first, second = PatientFactory(), PatientFactory()
    response = client.post(
        reverse("identity-merge-choose"),
        {"first": first.formatted_nhs_number, "second": second.nhs_number},
    )
    assert response.status_code == 302
    assert response["Location"] == compare_address(first, second)
    assert SearchEvent.objects.filter(user=user, found__in=[first, second]).count() == 2
    assert first.nhs_number not in response["Location"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Enter the NHS number of the first record"),
        ({"first": "junk", "second": ""}, "An NHS number contains only digits."),
        ({"first": "9990000018", "second": "9990000018"}, "Enter the NHS number of a different"),
        ({"first": "943 476 5919", "second": "1" * 30}, "Enter an NHS number of 10 digits"),
        ({"first": "9434765919", "second": "9434765870"}, "No patient in the register has this"),
    ],
)
def test_choosing_with_empty_or_junk_numbers_gives_the_error_summary(asker, data, message):
    client, _ = asker
    PatientFactory(nhs_number="9990000018")
    response = client.post(reverse("identity-merge-choose"), data)
    page = response.content.decode()
    assert response.status_code == 400
    assert "<title>Error: Choose two records" in page
    assert "There is a problem" in page and message in page


def test_the_comparison_warns_when_date_of_birth_sex_or_nhs_number_differ_and_records_looks(
    asker,
):
    client, user = asker
    first = PatientFactory(given_names="Ada", family_name="Obi")
    second = PatientFactory(
        given_names="Ada", family_name="Obi", birth_date=datetime.date(1950, 4, 3), sex=Sex.MALE
    )
    page = client.get(compare_address(first, second)).content.decode()
    assert "These records differ in date of birth and sex and NHS number" in page
    assert "needs a second person" in page
    assert looks(user) == sorted([first.pk, second.pk])


def test_records_that_agree_and_share_a_number_are_merged_after_a_confirmation(asker):
    client, _ = asker
    kept, retired = PatientFactory(), PatientFactory()
    SupersededNhsNumber.objects.create(nhs_number=retired.nhs_number, patient=kept)
    link = LinkFactory(patient=retired)
    address = compare_address(kept, retired)
    assert "These records differ" not in client.get(address).content.decode()

    step = client.post(address, {"kept": kept.pk, "reason": "PDS superseded the number"})
    assert step.status_code == 200
    assert "Merge these records" in step.content.decode()
    assert not PatientMerge.objects.exists()  # nothing until confirmed

    done = client.post(
        address, {"kept": kept.pk, "reason": "PDS superseded the number", "confirmed": "yes"}
    )
    merge = PatientMerge.objects.get()
    assert done["Location"] == reverse("identity-merge", kwargs={"merge_id": merge.pk})
    link.refresh_from_db()
    assert link.patient == kept and merge.approved_by is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Choose which record to keep"),
        ({"kept": "junk", "reason": "x"}, "Choose which record to keep"),
        ({"kept": str(2**70), "reason": "x"}, "Choose which record to keep"),
        ({"reason": "x" * 3000}, "Enter a reason of 2,000 characters or fewer"),
        ("kept-only", "Enter why these records are the same person"),
        ("confirmed-without-reason", "Enter why these records are the same person"),
    ],
)
def test_the_merge_form_empty_or_with_junk_gives_the_error_summary(asker, data, message):
    client, _ = asker
    first, second = PatientFactory(), PatientFactory()
    if data == "kept-only":
        data = {"kept": first.pk}
    elif data == "confirmed-without-reason":
        data = {"kept": first.pk, "reason": " ", "confirmed": "yes"}
    response = client.post(compare_address(first, second), data)
    page = response.content.decode()
    assert response.status_code == 400
    assert "<title>Error: " in page and "There is a problem" in page and message in page
    assert not PatientMerge.objects.exists() and not PatientMergeRequest.objects.exists()


@pytest.mark.parametrize(
    "query",
    ["", "?first=1", "?first=junk&second=2", f"?first={2**70}&second=1", "?first=1&second=1"],
)
def test_a_comparison_of_anything_but_two_records_is_not_found(asker, query):
    client, _ = asker
    PatientFactory(), PatientFactory()
    assert client.get(reverse("identity-merge-compare") + query).status_code == 404


def test_a_merge_of_records_that_differ_needs_and_gets_a_second_persons_approval(asker, approver):
    client, user = asker
    second_client, second_user = approver
    kept = PatientFactory()
    retired = PatientFactory(birth_date=datetime.date(1950, 4, 3))
    link = LinkFactory(patient=retired)
    address = compare_address(kept, retired)
    form = {"kept": kept.pk, "reason": "Same address and GP"}

    step = client.post(address, form)
    assert "Ask for approval" in step.content.decode()
    done = client.post(address, {**form, "confirmed": "yes"})
    asked = PatientMergeRequest.objects.get()
    request_page = reverse("identity-merge-request", kwargs={"request_id": asked.pk})
    assert done["Location"] == request_page
    link.refresh_from_db()
    assert link.patient == retired  # nothing merged yet

    # The asker cannot approve their own request, whatever they post.
    own = client.get(request_page).content.decode()
    assert "You asked for this merge" in own and 'name="outcome"' not in own
    refused = client.post(
        request_page, {"outcome": "approve", "reason": "mine", "confirmed": "yes"}
    )
    assert refused.status_code == 400
    assert "someone else must decide it" in refused.content.decode()
    link.refresh_from_db()
    assert link.patient == retired

    # Someone else approves, after a confirmation.
    page = second_client.get(request_page).content.decode()
    assert "These records differ in date of birth and NHS number" in page
    assert "Same address and GP" in page
    confirm = second_client.post(request_page, {"outcome": "approve", "reason": "Checked PDS"})
    assert "Approve and merge" in confirm.content.decode()
    approved = second_client.post(
        request_page, {"outcome": "approve", "reason": "Checked PDS", "confirmed": "yes"}
    )
    merge = PatientMerge.objects.get()
    assert approved["Location"] == reverse("identity-merge", kwargs={"merge_id": merge.pk})
    link.refresh_from_db()
    assert link.patient == kept
    assert (merge.merged_by, merge.approved_by) == (user, second_user)
    assert looks(second_user) == sorted([kept.pk, retired.pk] * 2)  # the two pages it saw


def test_a_second_person_may_refuse_a_merge(asker, approver):
    _, user = asker
    second_client, _ = approver
    from records import services

    asked = services.request_merge(
        kept=PatientFactory(), retired=PatientFactory(sex=Sex.MALE), reason="same", actor=user
    )
    page = reverse("identity-merge-request", kwargs={"request_id": asked.pk})
    second_client.post(page, {"outcome": "refuse", "reason": "Twins", "confirmed": "yes"})
    asked.refresh_from_db()
    assert (asked.status, asked.decision_reason) == ("refused", "Twins")
    assert not PatientMerge.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Choose whether to approve or refuse the merge"),
        ({"outcome": "delete-everyone", "reason": "x"}, "Choose whether to approve or refuse"),
        ({"outcome": "approve"}, "Enter why you approve or refuse this merge"),
        ({"outcome": "approve", "reason": "", "confirmed": "yes"}, "Enter why you agree"),
    ],
)
def test_the_approval_form_empty_or_with_junk_gives_the_error_summary(
    asker, approver, data, message
):
    _, user = asker
    second_client, _ = approver
    from records import services

    asked = services.request_merge(
        kept=PatientFactory(), retired=PatientFactory(), reason="same", actor=user
    )
    response = second_client.post(
        reverse("identity-merge-request", kwargs={"request_id": asked.pk}), data
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "<title>Error: Merge request" in page and message in page
    asked.refresh_from_db()
    assert asked.status == PatientMergeRequest.Status.PENDING


def test_a_merge_is_undone_from_its_page_after_a_confirmation_and_with_a_reason(asker):
    client, user = asker
    kept, retired = PatientFactory(), PatientFactory()
    SupersededNhsNumber.objects.create(nhs_number=retired.nhs_number, patient=kept)
    link = LinkFactory(patient=retired)
    from records import services

    merge = services.merge_patients(kept=kept, retired=retired, reason="same", actor=user)
    page = reverse("identity-merge", kwargs={"merge_id": merge.pk})
    assert "Undo this merge" in client.get(page).content.decode()

    empty = client.post(page, {"reason": ""})
    assert empty.status_code == 400
    assert "Enter why this merge is being undone" in empty.content.decode()
    assert "Undo the merge" in client.post(page, {"reason": "Two people"}).content.decode()
    link.refresh_from_db()
    assert link.patient == kept  # not before the confirmation

    client.post(page, {"reason": "Two people", "confirmed": "yes"})
    link.refresh_from_db()
    merge.refresh_from_db()
    assert link.patient == retired and merge.undo_reason == "Two people"
    again = client.post(page, {"reason": "again", "confirmed": "yes"})
    assert again.status_code == 400 and "cannot be undone here" in again.content.decode()


def test_the_merges_list_names_nobody_and_records_no_look(asker, approver):
    client, user = asker
    from records import services

    services.request_merge(
        kept=PatientFactory(family_name="Okafor"),
        retired=PatientFactory(family_name="Okafor"),
        reason="same",
        actor=user,
    )
    page = client.get(reverse("identity-merges")).content.decode()
    assert "NHS number" in page  # what differs, never whose
    assert "Okafor" not in page and "OKAFOR" not in page
    assert looks(user) == []


@pytest.mark.parametrize(
    "route",
    [
        "identity-merges",
        "identity-merge-choose",
        "identity-merge-compare",
        "identity-merge-request",
        "identity-merge",
    ],
)
def test_merge_pages_are_not_found_without_the_merge_permissions(client, route):
    from records import services

    asker = identity_reviewer("asker")
    first, second = PatientFactory(), PatientFactory()
    asked = services.request_merge(kept=first, retired=second, reason="same", actor=asker)
    kwargs = {"identity-merge-request": {"request_id": asked.pk}}.get(route, {})
    address = reverse(route, kwargs=kwargs) if route != "identity-merge" else None
    if route == "identity-merge-compare":
        address = compare_address(first, second)
    if route == "identity-merge":
        merge = services.approve_merge_request(
            request=asked, reason="ok", actor=identity_reviewer("approver")
        )
        address = reverse(route, kwargs={"merge_id": merge.pk})
    for user in (
        identity_reviewer("reviews-only", merges=False),
        UserFactory(username="plain", is_staff=True),
    ):
        client.force_login(user)
        assert client.get(address).status_code == 404, (route, user)
        posted = client.post(address, {"reason": "x", "confirmed": "yes"})
        assert posted.status_code in (404, 405), (route, user)  # (the list takes no POST)
    assert not AccessEvent.objects.exists()
    assert Link.objects.count() == 0


def test_a_merged_records_management_page_says_where_it_went_and_offers_no_relationship(
    client,
):
    from access.models import CareRelationship, Role, Team
    from tests.factories import make_team, member, merged

    kept = PatientFactory(given_names="Ada", family_name="Kept")
    retired = PatientFactory(given_names="Ada", family_name="Retired")
    merge = merged(kept, retired, actor=identity_reviewer("asker"))
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    client.force_login(member(office, Role.ADMINISTRATOR, "office-admin"))
    address = reverse("manage-patient", kwargs={"patient_id": retired.pk})

    page = client.get(address).content.decode()

    when = f"{merge.merged_at.day} {merge.merged_at:%b %Y}"
    assert f"This record was merged into Ada KEPT on {when}" in page
    assert reverse("manage-patient", kwargs={"patient_id": kept.pk}) in page
    assert "Record a care relationship" not in page
    refused = client.post(address, {"team": office.pk, "kind": "referral", "reason": "x"})
    assert refused.status_code in (200, 400)
    assert not CareRelationship.objects.filter(patient=retired).exists()
    assert AccessEvent.objects.filter(patient=retired).exists()  # the page is a look
    kept_page = client.get(reverse("manage-patient", kwargs={"patient_id": kept.pk}))
    assert "Record a care relationship" in kept_page.content.decode()
