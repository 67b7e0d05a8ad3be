"""Linking source records to register patients, unlinking, and the audit entries each leaves."""

import pytest
from auditlog.models import LogEntry

from records import services
from records.exceptions import LinkConflict
from records.models import Link, MatchMethod
from tests.factories import LinkFactory, PatientFactory, SourceSystemFactory, merged

pytestmark = pytest.mark.django_db


def _link(patient, source, local_id, reviewer):
    return services.link_patient(
        patient=patient,
        source=source,
        local_id=local_id,
        matched_by=MatchMethod.NHS_NUMBER,
        score=None,
        actor=reviewer,
    )


def test_link_patient_links_the_register_patient(reviewer):
    patient = PatientFactory()
    source = SourceSystemFactory()

    link = _link(patient, source, "MRN1", reviewer)

    assert (link.patient, link.source, link.local_id) == (patient, source, "MRN1")
    assert link.matched_by == MatchMethod.NHS_NUMBER
    assert link.confirmed_by == reviewer


def test_linking_twice_is_idempotent(reviewer):
    patient = PatientFactory()
    source = SourceSystemFactory()
    first = _link(patient, source, "MRN1", reviewer)
    second = _link(patient, source, "MRN1", reviewer)
    assert first.pk == second.pk
    assert Link.objects.count() == 1


def test_local_id_linked_to_someone_else_is_refused_not_moved(reviewer):
    link = LinkFactory(local_id="MRN1")
    other = PatientFactory()

    with pytest.raises(LinkConflict):
        _link(other, link.source, "MRN1", reviewer)
    link.refresh_from_db()
    assert link.patient != other


def test_link_writes_an_audit_entry_naming_the_actor(reviewer):
    patient = PatientFactory()
    link = _link(patient, SourceSystemFactory(), "MRN1", reviewer)
    entry = LogEntry.objects.get_for_object(link).get()
    assert entry.action == LogEntry.Action.CREATE
    assert entry.actor == reviewer


def test_unlink_removes_the_link_and_audits_who_did_it(reviewer):
    link = LinkFactory()
    link_pk = link.pk

    services.unlink(link=link, actor=reviewer)

    assert not Link.objects.filter(pk=link_pk).exists()
    entry = LogEntry.objects.filter(object_pk=str(link_pk), action=LogEntry.Action.DELETE).get()
    assert entry.actor == reviewer


def test_link_to_a_merged_record_lands_on_the_record_that_was_kept(reviewer):
    kept, retired = PatientFactory(), PatientFactory()
    merged(kept, retired, reason="duplicate", actor=reviewer)

    link = _link(retired, SourceSystemFactory(), "L1", reviewer)

    assert link.patient == kept
