"""Merging two register entries that turn out to be one person, and undoing it: one person may
merge entries PDS has made one (a superseded NHS number) that agree on date of birth and sex;
any other pair needs a second person with the merge permission, never the one who asked."""

import datetime

import pytest
from auditlog.models import LogEntry

from records import services
from records.exceptions import MergeError, ReasonMissing
from records.models import Link, PatientMerge, PatientMergeRequest, Sex, SupersededNhsNumber
from records.selectors import merge_differences
from tests.factories import LinkFactory, PatientFactory, identity_reviewer, merged

pytestmark = pytest.mark.django_db


@pytest.fixture
def asker():
    return identity_reviewer("asker")


@pytest.fixture
def approver():
    return identity_reviewer("approver")


def superseded_pair():
    """Two entries of one person: PDS replaced the retired one's NHS number with the kept's."""
    kept, retired = PatientFactory(), PatientFactory()
    SupersededNhsNumber.objects.create(nhs_number=retired.nhs_number, patient=kept)
    return kept, retired


def test_merge_moves_every_link_to_the_kept_record(asker):
    kept, retired = superseded_pair()
    kept_link = LinkFactory(patient=kept)
    moved = [LinkFactory(patient=retired), LinkFactory(patient=retired)]

    merge = services.merge_patients(kept=kept, retired=retired, reason="same person", actor=asker)

    assert set(Link.objects.filter(patient=kept)) == {kept_link, *moved}
    assert not Link.objects.filter(patient=retired).exists()
    retired.refresh_from_db()
    assert retired.merged_into == kept
    assert sorted(merge.moved_link_ids) == sorted(link.pk for link in moved)
    assert merge.approved_by is None


def test_unmerge_puts_back_exactly_the_links_that_moved(asker):
    kept, retired = superseded_pair()
    kept_link = LinkFactory(patient=kept)
    moved = {LinkFactory(patient=retired), LinkFactory(patient=retired)}
    merge = services.merge_patients(kept=kept, retired=retired, reason="same person", actor=asker)
    added_after_merge = LinkFactory(patient=kept)

    services.unmerge(merge=merge, reason="two people after all", actor=asker)

    assert set(Link.objects.filter(patient=retired)) == moved
    assert set(Link.objects.filter(patient=kept)) == {kept_link, added_after_merge}
    retired.refresh_from_db()
    assert retired.merged_into is None
    assert Link.objects.count() == 4
    merge.refresh_from_db()
    assert (merge.undone_by, merge.undo_reason) == (asker, "two people after all")


@pytest.mark.parametrize("reason", ["", "   "])
def test_unmerge_needs_a_reason(asker, reason):
    kept, retired = superseded_pair()
    merge = services.merge_patients(kept=kept, retired=retired, reason="same person", actor=asker)
    with pytest.raises(ReasonMissing):
        services.unmerge(merge=merge, reason=reason, actor=asker)
    retired.refresh_from_db()
    assert retired.merged_into == kept


def test_merge_and_unmerge_are_audited_with_the_actor(asker):
    kept, retired = superseded_pair()
    link = LinkFactory(patient=retired)
    merge = services.merge_patients(kept=kept, retired=retired, reason="same person", actor=asker)
    services.unmerge(merge=merge, reason="wrong", actor=asker)

    link_changes = LogEntry.objects.get_for_object(link).filter(action=LogEntry.Action.UPDATE)
    assert link_changes.count() == 2
    assert {entry.actor for entry in link_changes} == {asker}
    assert LogEntry.objects.get_for_object(merge).filter(actor=asker).exists()


def test_a_merge_cannot_be_undone_twice(asker):
    kept, retired = superseded_pair()
    merge = services.merge_patients(kept=kept, retired=retired, reason="same person", actor=asker)
    services.unmerge(merge=merge, reason="wrong", actor=asker)
    with pytest.raises(MergeError):
        services.unmerge(merge=merge, reason="wrong", actor=asker)


@pytest.mark.parametrize("reason", ["", "   "])
def test_merge_needs_a_reason(asker, reason):
    kept, retired = superseded_pair()
    with pytest.raises(ReasonMissing):
        services.merge_patients(kept=kept, retired=retired, reason=reason, actor=asker)
    with pytest.raises(ReasonMissing):
        services.request_merge(kept=kept, retired=retired, reason=reason, actor=asker)
    assert not PatientMerge.objects.exists()
    assert not PatientMergeRequest.objects.exists()


def test_a_patient_cannot_be_merged_into_itself(asker):
    patient = PatientFactory()
    with pytest.raises(MergeError):
        services.merge_patients(kept=patient, retired=patient, reason="x", actor=asker)


def test_an_already_merged_record_cannot_be_merged_again(asker):
    kept, retired = superseded_pair()
    third = PatientFactory()
    SupersededNhsNumber.objects.create(nhs_number=third.nhs_number, patient=retired)
    services.merge_patients(kept=kept, retired=retired, reason="same", actor=asker)
    with pytest.raises(MergeError):
        services.merge_patients(kept=third, retired=retired, reason="same", actor=asker)


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({}, ["nhs_number"]),
        ({"birth_date": datetime.date(1950, 4, 3)}, ["birth_date", "nhs_number"]),
        ({"sex": Sex.MALE}, ["sex", "nhs_number"]),
    ],
    ids=["nhs-number", "date-of-birth", "sex"],
)
def test_entries_that_differ_cannot_be_merged_by_one_person(asker, change, differs):
    kept, retired = PatientFactory(), PatientFactory(**change)
    LinkFactory(patient=retired)

    assert merge_differences(kept=kept, retired=retired) == differs
    with pytest.raises(MergeError, match="a second person must approve"):
        services.merge_patients(kept=kept, retired=retired, reason="same", actor=asker)
    retired.refresh_from_db()
    assert retired.merged_into is None
    assert Link.objects.get().patient == retired


def test_a_superseded_number_of_the_same_birth_date_and_sex_is_no_difference():
    kept, retired = superseded_pair()
    assert merge_differences(kept=kept, retired=retired) == []
    assert merge_differences(kept=retired, retired=kept) == []
    other = PatientFactory(sex=Sex.MALE)
    SupersededNhsNumber.objects.create(nhs_number=other.nhs_number, patient=kept)
    assert merge_differences(kept=kept, retired=other) == ["sex"]


def test_a_merge_of_entries_that_differ_waits_for_a_second_person_who_approves(asker, approver):
    kept, retired = PatientFactory(), PatientFactory(birth_date=datetime.date(1950, 4, 3))
    moved = LinkFactory(patient=retired)

    asked = services.request_merge(
        kept=kept, retired=retired, reason="same address and GP", actor=asker
    )

    assert asked.status == PatientMergeRequest.Status.PENDING
    assert asked.differences == ["birth_date", "nhs_number"]
    moved.refresh_from_db()
    assert moved.patient == retired  # nothing changes until approved

    merge = services.approve_merge_request(request=asked, reason="checked with PDS", actor=approver)

    moved.refresh_from_db()
    retired.refresh_from_db()
    asked.refresh_from_db()
    assert moved.patient == kept and retired.merged_into == kept
    assert (merge.merged_by, merge.approved_by, merge.reason) == (
        asker,
        approver,
        "same address and GP",
    )
    assert (asked.status, asked.decided_by, asked.decision_reason, asked.merge) == (
        PatientMergeRequest.Status.APPROVED,
        approver,
        "checked with PDS",
        merge,
    )
    assert LogEntry.objects.get_for_object(asked).filter(actor=approver).exists()


def test_whoever_asked_for_a_merge_cannot_approve_it(asker):
    kept, retired = PatientFactory(), PatientFactory()
    asked = services.request_merge(kept=kept, retired=retired, reason="same", actor=asker)

    with pytest.raises(MergeError, match="Someone else must decide"):
        services.approve_merge_request(request=asked, reason="sure", actor=asker)
    with pytest.raises(MergeError, match="Someone else must decide"):
        services.refuse_merge_request(request=asked, reason="sure", actor=asker)

    retired.refresh_from_db()
    asked.refresh_from_db()
    assert retired.merged_into is None
    assert asked.status == PatientMergeRequest.Status.PENDING


def test_only_someone_with_the_merge_permission_approves(asker):
    kept, retired = PatientFactory(), PatientFactory()
    asked = services.request_merge(kept=kept, retired=retired, reason="same", actor=asker)
    reviewer_only = identity_reviewer("reviews-only", merges=False)

    with pytest.raises(MergeError, match="Only someone who may merge"):
        services.approve_merge_request(request=asked, reason="sure", actor=reviewer_only)
    retired.refresh_from_db()
    assert retired.merged_into is None


def test_a_refused_merge_request_merges_nothing_and_cannot_then_be_approved(asker, approver):
    kept, retired = PatientFactory(), PatientFactory(sex=Sex.MALE)
    asked = services.request_merge(kept=kept, retired=retired, reason="same", actor=asker)

    services.refuse_merge_request(request=asked, reason="different people", actor=approver)

    asked.refresh_from_db()
    assert (asked.status, asked.decision_reason) == (
        PatientMergeRequest.Status.REFUSED,
        "different people",
    )
    with pytest.raises(MergeError, match="already been decided"):
        services.approve_merge_request(request=asked, reason="sure", actor=approver)
    assert not PatientMerge.objects.exists()


def test_deciding_a_merge_request_needs_a_reason(asker, approver):
    asked = services.request_merge(
        kept=PatientFactory(), retired=PatientFactory(), reason="same", actor=asker
    )
    with pytest.raises(ReasonMissing):
        services.approve_merge_request(request=asked, reason=" ", actor=approver)
    with pytest.raises(ReasonMissing):
        services.refuse_merge_request(request=asked, reason="", actor=approver)


def test_one_pair_has_one_open_request_whichever_way_round(asker):
    kept, retired = PatientFactory(), PatientFactory()
    services.request_merge(kept=kept, retired=retired, reason="same", actor=asker)
    with pytest.raises(MergeError, match="already waits"):
        services.request_merge(kept=retired, retired=kept, reason="same", actor=asker)
    assert PatientMergeRequest.objects.count() == 1


def test_the_database_refuses_a_second_open_request_for_a_pair(asker):
    from django.db import IntegrityError, transaction
    from django.utils import timezone

    kept, retired = PatientFactory(), PatientFactory()
    services.request_merge(kept=kept, retired=retired, reason="same", actor=asker)
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientMergeRequest.objects.create(
            kept=retired, retired=kept, reason="again", requested_by=asker,
            requested_at=timezone.now(),
        )  # fmt: skip


def test_entries_that_agree_are_merged_not_requested(asker):
    kept, retired = superseded_pair()
    with pytest.raises(MergeError, match="without asking"):
        services.request_merge(kept=kept, retired=retired, reason="same", actor=asker)


def test_an_approved_merge_is_undone_like_any_other(asker, approver):
    kept, retired = PatientFactory(), PatientFactory()
    link = LinkFactory(patient=retired)
    merge = merged(kept, retired, actor=asker)

    services.unmerge(merge=merge, reason="PDS says two people", actor=approver)

    link.refresh_from_db()
    assert link.patient == retired
