"""Identity review in the portal: the queue (filtered, paged, naming nobody, in a bounded number
of queries), a record beside its candidates (Same / Different / Not given, the score in words),
and each decision confirmed with its reason, kept on the decision and in the change history;
every page that names a register patient records a look at them."""

import datetime
import re

import pytest
from auditlog.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from audit.models import AccessEvent
from records import services
from records.confidentiality import Confidentiality
from records.exceptions import ReasonMissing, ReviewError
from records.matching import Demographics, explain_score
from records.models import Link, MatchCandidate, UnmatchedRecord
from tests.factories import (
    PatientFactory,
    SourceSystemFactory,
    UserFactory,
    identity_reviewer,
    make_team,
    member,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewer_user():
    return identity_reviewer("rhys")


@pytest.fixture
def reviewing(client, reviewer_user):
    client.force_login(reviewer_user)
    return client


def queued(patient=None, *, local_id="LAS-1", source=None, given="Jon", actor=None, **extra):
    """A source record waiting for review, with `patient` (if any) as a candidate."""
    patient = patient or PatientFactory(given_names="John", family_name="Smith")
    record = services.queue_unmatched(
        source=source or SourceSystemFactory(name="Riverside Social Care"),
        local_id=local_id,
        demographics=Demographics(
            given, patient.family_name, patient.birth_date, extra.get("postcode", "E8 1AA")
        ),
        reason=extra.get("reason", UnmatchedRecord.Reason.NO_NHS_NUMBER),
        actor=actor or UserFactory(username=f"sync-{local_id}"),
    )
    return record


def marks(page: str) -> list[str]:
    """The Same / Different / Not given tags of a page's comparisons, in order."""
    return re.findall(
        r'class="nhsuk-tag nhsuk-tag--\w+"\s*>\s*(Same|Different|Not given)\s*<', page
    )


def looks_by(user) -> list[int]:
    return sorted(AccessEvent.objects.filter(user=user).values_list("patient_id", flat=True))


# The services: every decision carries its reason.


@pytest.mark.parametrize("reason", ["", "  "])
def test_every_decision_needs_a_reason(reviewer_user, reason):
    record = queued()
    candidate = record.candidates.get()
    for decide in (
        lambda: services.confirm_candidate(candidate=candidate, reason=reason, actor=reviewer_user),
        lambda: services.reject_candidate(candidate=candidate, reason=reason, actor=reviewer_user),
        lambda: services.ask_for_more_information(
            record=record, reason=reason, actor=reviewer_user
        ),
        lambda: services.dismiss_unmatched(record=record, reason=reason, actor=reviewer_user),
    ):
        with pytest.raises(ReasonMissing):
            decide()
    record.refresh_from_db()
    assert record.status == UnmatchedRecord.Status.PENDING
    assert record.candidates.get().status == MatchCandidate.Status.PENDING


def test_a_link_keeps_its_reason_on_the_candidate_the_record_and_in_the_history(reviewer_user):
    record = queued()
    candidate = record.candidates.get()

    services.confirm_candidate(candidate=candidate, reason="Same GP and phone", actor=reviewer_user)

    candidate.refresh_from_db()
    record.refresh_from_db()
    assert (candidate.status, candidate.decision_reason) == ("confirmed", "Same GP and phone")
    assert (record.status, record.decision_reason, record.resolved_by) == (
        "linked",
        "Same GP and phone",
        reviewer_user,
    )
    change = LogEntry.objects.get_for_object(candidate).filter(actor=reviewer_user).get()
    assert change.changes_dict["decision_reason"][1] == "Same GP and phone"


def test_a_record_needing_more_information_waits_and_can_still_be_linked(reviewer_user):
    record = queued()

    services.ask_for_more_information(
        record=record, reason="Ask the council for the NHS number", actor=reviewer_user
    )
    record.refresh_from_db()
    assert record.status == UnmatchedRecord.Status.NEEDS_INFORMATION
    assert record.decision_reason == "Ask the council for the NHS number"
    assert LogEntry.objects.get_for_object(record).filter(actor=reviewer_user).exists()

    # Identity sync still refreshes it (it is still waiting), and a person may then decide.
    refreshed = queued(record.candidates.get().patient, source=record.source)
    assert refreshed.status == UnmatchedRecord.Status.NEEDS_INFORMATION
    services.confirm_candidate(
        candidate=refreshed.candidates.get(), reason="Council confirmed", actor=reviewer_user
    )
    assert Link.objects.get().local_id == "LAS-1"


def test_a_record_no_longer_waiting_takes_no_more_decisions(reviewer_user):
    record = queued()
    services.dismiss_unmatched(record=record, reason="nobody like them", actor=reviewer_user)
    with pytest.raises(ReviewError, match="no longer waiting"):
        services.ask_for_more_information(record=record, reason="x", actor=reviewer_user)
    with pytest.raises(ReviewError, match="no longer waiting"):
        services.reject_candidate(
            candidate=record.candidates.get(), reason="x", actor=reviewer_user
        )


def test_the_score_is_explained_in_words_with_its_points():
    words = explain_score(
        {"family_name": 1.0, "given_name": 0.9333, "birth_date": 0.7, "postcode": 0.0}
    )
    assert words == [
        "Family name: the same (35 of 35 points)",
        "First name: spelt a little differently (23 of 25 points)",
        "Date of birth: day and month swapped, a common keying slip (21 of 30 points)",
        "Postcode: different, or not given (0 of 10 points)",
    ]
    assert (
        explain_score("not a breakdown")[0]
        == "Family name: different, or not given (0 of 35 points)"
    )


# The pages.


def test_the_queue_lists_waiting_records_naming_nobody_and_records_no_look(
    reviewing, reviewer_user, django_assert_max_num_queries
):
    for n in range(3):
        queued(PatientFactory(family_name="Okafor"), local_id=f"LAS-{n}", given="Joy")

    with django_assert_max_num_queries(14):
        response = reviewing.get(reverse("identity-queue"))

    page = response.content.decode()
    assert response.status_code == 200
    assert page.count(">Riverside Social Care: LAS-") == 3
    assert "Okafor" not in page and "OKAFOR" not in page and "Joy" not in page
    assert "Source holds no NHS number" in page
    assert looks_by(reviewer_user) == []


def test_the_queue_costs_the_same_queries_for_many_records(
    reviewing, django_assert_max_num_queries
):
    source = SourceSystemFactory(name="Riverside Social Care")
    for n in range(60):
        queued(PatientFactory(), local_id=f"LAS-{n}", source=source)
    with django_assert_max_num_queries(14):
        page = reviewing.get(reverse("identity-queue")).content.decode()
    assert page.count(">Riverside Social Care: LAS-") == 50
    assert "Page 1 of 2" in page
    second = reviewing.get(reverse("identity-queue"), {"status": "waiting", "page": 2})
    assert second.content.decode().count(">Riverside Social Care: LAS-") == 10
    assert "?status=waiting&amp;page=1" in second.content.decode()


def test_the_queue_is_filtered_by_source_reason_status_and_age(reviewing, reviewer_user):
    council, hospital = SourceSystemFactory(name="Council"), SourceSystemFactory(name="Hospital")
    old = queued(local_id="OLD-1", source=council)
    UnmatchedRecord.objects.filter(pk=old.pk).update(
        first_seen_at=timezone.now() - datetime.timedelta(days=40)
    )
    queued(local_id="NEW-1", source=hospital, reason=UnmatchedRecord.Reason.BIRTH_DATE_DIFFERS)
    asked = queued(local_id="ASK-1", source=hospital)
    services.ask_for_more_information(record=asked, reason="phone them", actor=reviewer_user)

    def shown(**query) -> set[str]:
        page = reviewing.get(reverse("identity-queue"), query).content.decode()
        return {lid for lid in ("OLD-1", "NEW-1", "ASK-1") if f": {lid}</a>" in page}

    assert shown() == {"OLD-1", "NEW-1", "ASK-1"}
    assert shown(source=council.pk) == {"OLD-1"}
    assert shown(reason="birth_date_differs") == {"NEW-1"}
    assert shown(status="needs_information") == {"ASK-1"}
    assert shown(status="pending") == {"OLD-1", "NEW-1"}
    assert shown(age="month") == {"OLD-1"}
    assert "Needs more information" in reviewing.get(reverse("identity-queue")).content.decode()


@pytest.mark.parametrize(
    "query",
    [
        {"source": "junk"},
        {"source": str(2**70)},
        {"reason": "<script>alert(1)</script>"},
        {"status": "everything"},
        {"age": "forever"},
    ],
)
def test_junk_filters_give_the_error_summary_not_a_500(reviewing, query):
    response = reviewing.get(reverse("identity-queue"), query)
    page = response.content.decode()
    assert response.status_code == 400
    assert "There is a problem" in page and "<title>Error: Identity reviews" in page
    assert "<script>alert(1)" not in page


def test_a_junk_page_number_shows_the_first_or_last_page(reviewing):
    queued()
    for junk in ("x", "-1", str(2**70), "99"):
        assert reviewing.get(reverse("identity-queue"), {"page": junk}).status_code == 200


def test_a_records_page_compares_it_with_each_candidate_and_records_a_look(
    reviewing, reviewer_user
):
    patient = PatientFactory(
        given_names="John", family_name="Smith", gp_practice_name="Mile End Surgery"
    )
    record = queued(patient, postcode="E8 1AA")

    response = reviewing.get(reverse("identity-record", kwargs={"record_id": record.pk}))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Jon SMITH" in page and "John SMITH" in page
    assert "Mile End Surgery" in page
    assert marks(page) == ["Different", "Same", "Not given", "Same", "Not given", "Not given"]
    assert "Date of birth: the same (30 of 30 points)" in page
    assert "family_name" not in page and "given_name" not in page  # no raw JSON
    assert "Link (same person)" in page and "Dismiss (no match)" in page
    assert "Need more information" in page and "Not the same person" in page
    assert looks_by(reviewer_user) == [patient.pk]


def test_a_restricted_candidate_shows_neither_their_details_nor_the_sources_postcode(
    reviewing,
):
    patient = PatientFactory(
        given_names="Quill", family_name="Marchbanks", postcode="N1 9GU",
        gp_practice_name="Secret Practice",
    )  # fmt: skip
    record = queued(patient, given="Quill", postcode="N1 9GU")
    patient.confidentiality = Confidentiality.RESTRICTED
    patient.save()
    UnmatchedRecord.objects.filter(pk=record.pk).update(postcode="N1 9GU")  # past the model

    page = reviewing.get(reverse("identity-record", kwargs={"record_id": record.pk}))

    text = page.content.decode()
    assert "N1 9GU" not in text and "Secret Practice" not in text
    assert "Not shared (restricted)" in text


def test_linking_asks_for_confirmation_and_a_reason_then_links(reviewing, reviewer_user):
    record = queued()
    candidate = record.candidates.get()
    address = reverse("identity-decide", kwargs={"record_id": record.pk})

    asked = reviewing.get(address, {"decision": "link", "candidate": candidate.pk})
    assert asked.status_code == 200
    assert "Check before you link" in asked.content.decode()
    assert not Link.objects.exists()  # asking changes nothing

    empty = reviewing.post(address, {"decision": "link", "candidate": candidate.pk, "reason": ""})
    page = empty.content.decode()
    assert empty.status_code == 400
    assert "<title>Error: Link the records" in page
    assert "There is a problem" in page and "Enter why this is the same person" in page
    assert 'href="#id_reason"' in page
    assert not Link.objects.exists()

    done = reviewing.post(
        address, {"decision": "link", "candidate": candidate.pk, "reason": "Same phone"}
    )
    assert done.status_code == 302
    assert Link.objects.get().patient == candidate.patient
    candidate.refresh_from_db()
    assert candidate.decision_reason == "Same phone"
    shown = reviewing.get(done["Location"]).content.decode()
    assert "Same phone" in shown and "Linked" in shown


@pytest.mark.parametrize(
    ("decision", "status", "words"),
    [
        ("more-information", "needs_information", "Enter what information is needed"),
        ("dismiss", "dismissed", "Enter why nobody in the register is this person"),
    ],
)
def test_record_decisions_are_confirmed_with_a_reason(reviewing, decision, status, words):
    record = queued()
    address = reverse("identity-decide", kwargs={"record_id": record.pk})
    assert reviewing.get(address, {"decision": decision}).status_code == 200

    empty = reviewing.post(address, {"decision": decision, "reason": "   "})
    assert empty.status_code == 400 and words in empty.content.decode()

    reviewing.post(address, {"decision": decision, "reason": "Checked with the council"})
    record.refresh_from_db()
    assert (record.status, record.decision_reason) == (status, "Checked with the council")


def test_not_the_same_person_is_confirmed_with_a_reason(reviewing):
    record = queued()
    candidate = record.candidates.get()
    address = reverse("identity-decide", kwargs={"record_id": record.pk})
    reviewing.post(address, {"decision": "not-same", "candidate": candidate.pk, "reason": "twin"})
    candidate.refresh_from_db()
    assert (candidate.status, candidate.decision_reason) == ("rejected", "twin")


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"decision": "delete"},
        {"decision": "link"},
        {"decision": "link", "candidate": "junk"},
        {"decision": "link", "candidate": str(2**70)},
        {"decision": "not-same", "candidate": "-1"},
    ],
)
def test_junk_decisions_are_not_found_never_a_500(reviewing, data):
    record = queued()
    address = reverse("identity-decide", kwargs={"record_id": record.pk})
    assert reviewing.get(address, data).status_code == 404
    assert reviewing.post(address, {**data, "reason": "x"}).status_code == 404
    assert not Link.objects.exists()


def test_a_reason_too_long_or_unstorable_is_refused_in_words(reviewing):
    record = queued()
    address = reverse("identity-decide", kwargs={"record_id": record.pk})
    long = reviewing.post(address, {"decision": "dismiss", "reason": "x" * 3000})
    assert long.status_code == 400
    assert "Enter a reason of 2,000 characters or fewer" in long.content.decode()
    nul = reviewing.post(address, {"decision": "dismiss", "reason": "a\x00b"})
    assert nul.status_code == 400  # refused before any page (lcr.middleware), as everywhere
    record.refresh_from_db()
    assert record.status == UnmatchedRecord.Status.PENDING


def test_a_decision_on_a_record_decided_meanwhile_says_so(reviewing, reviewer_user):
    record = queued()
    services.dismiss_unmatched(record=record, reason="gone", actor=reviewer_user)
    address = reverse("identity-decide", kwargs={"record_id": record.pk})
    response = reviewing.post(address, {"decision": "more-information", "reason": "x"})
    assert response.status_code == 400
    assert "no longer waiting for review" in response.content.decode()


def test_a_missing_record_is_not_found(reviewing):
    for route in ("identity-record", "identity-decide"):
        assert reviewing.get(reverse(route, kwargs={"record_id": 999})).status_code == 404


@pytest.mark.parametrize(
    "who",
    ["nobody", "staff without permissions", "permissions without staff", "administrator"],
)
def test_the_identity_pages_are_not_found_for_anyone_but_a_reviewer(client, who):
    from django.contrib.auth.models import Permission

    from access.models import Team

    record = queued()
    if who == "administrator":
        user = member(make_team("Office", Team.Kind.RECORD_OFFICE, ods_code="LCR"), "administrator")
    else:
        user = UserFactory(username="someone", is_staff=who == "staff without permissions")
    if who == "permissions without staff":
        user.user_permissions.add(
            *Permission.objects.filter(codename__in=["change_unmatchedrecord",
                                                     "change_matchcandidate"])
        )  # fmt: skip
    client.force_login(user)
    for address in (
        reverse("identity-queue"),
        reverse("identity-record", kwargs={"record_id": record.pk}),
        reverse("identity-decide", kwargs={"record_id": record.pk}) + "?decision=dismiss",
    ):
        assert client.get(address).status_code == 404, address
    assert (
        client.post(
            reverse("identity-decide", kwargs={"record_id": record.pk}),
            {"decision": "dismiss", "reason": "x"},
        ).status_code
        == 404
    )
    record.refresh_from_db()
    assert record.status == UnmatchedRecord.Status.PENDING
    assert not AccessEvent.objects.exists()


def test_the_header_and_home_show_a_reviewer_the_count_waiting(reviewing):
    queued(local_id="A")
    queued(local_id="B")
    home = reviewing.get(reverse("home")).content.decode()
    assert "Identity reviews (2)" in home
    assert "<strong>2</strong> source records could not be linked" in home
    assert reverse("identity-queue") in home


def test_the_header_offers_identity_reviews_to_nobody_else(client):
    client.force_login(UserFactory(username="plain", is_staff=True))
    home = client.get(reverse("home")).content.decode()
    assert "Identity reviews" not in home and reverse("identity-queue") not in home


def test_the_demo_has_a_person_registered_twice_whose_record_offers_both_entries(population):
    from demo.load import register_duplicate_entry, register_population
    from records.models import Patient
    from records.selectors import merge_differences

    register_population(population)
    duplicate = register_duplicate_entry(population)
    assert register_duplicate_entry(population) is None  # once only
    person = population.people[1]
    original = Patient.objects.get(nhs_number=person.nhs_number)
    view = person.source_views["social_care"]
    assert not view.nhs_number  # identity sync queues it for a person

    record = services.queue_unmatched(
        source=SourceSystemFactory(),
        local_id=view.local_id,
        demographics=Demographics(
            " ".join(view.given_names), view.family_name, view.birth_date, view.postcode
        ),
        reason=UnmatchedRecord.Reason.NO_NHS_NUMBER,
        actor=services.system_user(),
    )

    assert set(record.candidates.values_list("patient", flat=True)) == {original.pk, duplicate.pk}
    assert "birth_date" in merge_differences(kept=original, retired=duplicate)
