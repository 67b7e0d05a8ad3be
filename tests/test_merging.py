"""Merging two register entries that turn out to be one person, and undoing it."""

import pytest
from auditlog.models import LogEntry

from records import services
from records.exceptions import MergeError
from records.models import Link, PatientMerge
from tests.factories import LinkFactory, PatientFactory

pytestmark = pytest.mark.django_db


def test_merge_moves_every_link_to_the_kept_record(reviewer):
    kept, retired = PatientFactory(), PatientFactory()
    kept_link = LinkFactory(patient=kept)
    moved = [LinkFactory(patient=retired), LinkFactory(patient=retired)]

    merge = services.merge_patients(
        kept=kept, retired=retired, reason="same person", actor=reviewer
    )

    assert set(Link.objects.filter(patient=kept)) == {kept_link, *moved}
    assert not Link.objects.filter(patient=retired).exists()
    retired.refresh_from_db()
    assert retired.merged_into == kept
    assert sorted(merge.moved_link_ids) == sorted(link.pk for link in moved)


def test_unmerge_puts_back_exactly_the_links_that_moved(reviewer):
    kept, retired = PatientFactory(), PatientFactory()
    kept_link = LinkFactory(patient=kept)
    moved = {LinkFactory(patient=retired), LinkFactory(patient=retired)}
    merge = services.merge_patients(
        kept=kept, retired=retired, reason="same person", actor=reviewer
    )
    added_after_merge = LinkFactory(patient=kept)

    services.unmerge(merge=merge, actor=reviewer)

    assert set(Link.objects.filter(patient=retired)) == moved
    assert set(Link.objects.filter(patient=kept)) == {kept_link, added_after_merge}
    retired.refresh_from_db()
    assert retired.merged_into is None
    assert Link.objects.count() == 4


def test_merge_and_unmerge_are_audited_with_the_actor(reviewer):
    kept, retired = PatientFactory(), PatientFactory()
    link = LinkFactory(patient=retired)
    merge = services.merge_patients(
        kept=kept, retired=retired, reason="same person", actor=reviewer
    )
    services.unmerge(merge=merge, actor=reviewer)

    link_changes = LogEntry.objects.get_for_object(link).filter(action=LogEntry.Action.UPDATE)
    assert link_changes.count() == 2
    assert {entry.actor for entry in link_changes} == {reviewer}
    assert LogEntry.objects.get_for_object(merge).filter(actor=reviewer).exists()


def test_a_merge_cannot_be_undone_twice(reviewer):
    merge = services.merge_patients(
        kept=PatientFactory(), retired=PatientFactory(), reason="same person", actor=reviewer
    )
    services.unmerge(merge=merge, actor=reviewer)
    with pytest.raises(MergeError):
        services.unmerge(merge=merge, actor=reviewer)


@pytest.mark.parametrize("reason", ["", "   "])
def test_merge_needs_a_reason(reviewer, reason):
    with pytest.raises(MergeError):
        services.merge_patients(
            kept=PatientFactory(), retired=PatientFactory(), reason=reason, actor=reviewer
        )
    assert not PatientMerge.objects.exists()


def test_a_patient_cannot_be_merged_into_itself(reviewer):
    patient = PatientFactory()
    with pytest.raises(MergeError):
        services.merge_patients(kept=patient, retired=patient, reason="x", actor=reviewer)


def test_an_already_merged_record_cannot_be_merged_again(reviewer):
    kept, retired, third = PatientFactory(), PatientFactory(), PatientFactory()
    services.merge_patients(kept=kept, retired=retired, reason="same", actor=reviewer)
    with pytest.raises(MergeError):
        services.merge_patients(kept=third, retired=retired, reason="same", actor=reviewer)
