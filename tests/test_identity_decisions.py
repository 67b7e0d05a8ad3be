"""What identity sync decides for each source record, and what people's decisions change."""

import datetime

import pytest
from auditlog.models import LogEntry
from django.utils import timezone

from records import services
from records.exceptions import MergeError
from records.identity_sync import link_or_queue
from records.matching import Demographics
from records.models import IdentitySyncRun, Link, MatchCandidate, UnmatchedRecord
from records.sources.patients import parse_patient
from tests.factories import LinkFactory, PatientFactory, SourceSystemFactory, merged

pytestmark = pytest.mark.django_db

VERIFICATION = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)


def fhir_patient(local_id: str, patient=None, *, nhs_number=None, birth_date=None, code="01"):
    resource = {"resourceType": "Patient", "id": local_id, "name": [{"given": ["Amelia"]}]}
    number = nhs_number or (patient.nhs_number if patient else None)
    if number:
        resource["identifier"] = [
            {
                "system": "https://fhir.nhs.uk/Id/nhs-number",
                "value": number,
                "extension": [
                    {"url": VERIFICATION, "valueCodeableConcept": {"coding": [{"code": code}]}}
                ],
            }
        ]
    born = birth_date or (patient.birth_date if patient else None)
    if born:
        resource["birthDate"] = str(born)
    if patient:
        resource["name"] = [{"given": [patient.given_names], "family": patient.family_name}]
    return parse_patient(resource)


def sync(source, *source_patients, actor) -> IdentitySyncRun:
    run = IdentitySyncRun(source=source, started_at=timezone.now())
    link_or_queue(run, source, list(source_patients), actor)
    return run


def test_a_verified_nhs_number_with_the_same_birth_date_is_linked(reviewer):
    patient, source = PatientFactory(), SourceSystemFactory()
    run = sync(source, fhir_patient("L1", patient), actor=reviewer)
    assert run.linked == 1
    assert Link.objects.get().patient == patient


def test_an_unverified_nhs_number_waits_for_a_person(reviewer):
    patient, source = PatientFactory(), SourceSystemFactory()
    run = sync(source, fhir_patient("L1", patient, code="02"), actor=reviewer)
    assert (run.linked, run.queued) == (0, 1)
    assert UnmatchedRecord.objects.get().reason == UnmatchedRecord.Reason.UNVERIFIED_NHS_NUMBER


def test_an_nhs_number_of_someone_born_on_another_day_waits_for_a_person(reviewer):
    patient, source = PatientFactory(birth_date=datetime.date(1950, 1, 1)), SourceSystemFactory()
    stranger = fhir_patient("L1", nhs_number=patient.nhs_number, birth_date="2001-06-30")
    run = sync(source, stranger, actor=reviewer)
    assert (run.linked, run.queued) == (0, 1)
    assert UnmatchedRecord.objects.get().reason == UnmatchedRecord.Reason.BIRTH_DATE_DIFFERS
    assert not Link.objects.exists()


def test_a_partial_birth_date_is_no_obstacle_to_a_verified_nhs_number(reviewer):
    patient, source = PatientFactory(), SourceSystemFactory()
    partial = fhir_patient("L1", nhs_number=patient.nhs_number, birth_date="1950")
    assert partial.birth_date is None
    assert sync(source, partial, actor=reviewer).linked == 1


def test_a_postcode_too_long_to_be_one_is_ignored_not_stored():
    parsed = parse_patient(
        {
            "resourceType": "Patient",
            "id": "L1",
            "address": [{"postalCode": "not a postcode at all"}],
        }
    )
    assert parsed.postcode == ""


def test_an_unlinked_record_is_not_linked_again_by_the_next_sync(reviewer):
    patient, source = PatientFactory(), SourceSystemFactory()
    sync(source, fhir_patient("L1", patient), actor=reviewer)

    record = services.unlink(link=Link.objects.get(), actor=reviewer)
    run = sync(source, fhir_patient("L1", patient), actor=reviewer)

    assert not Link.objects.exists()
    assert (run.linked, run.queued) == (0, 1)
    record.refresh_from_db()
    assert (record.status, record.reason) == ("pending", UnmatchedRecord.Reason.UNLINKED)
    rejected = record.candidates.get(patient=patient)
    assert rejected.status == MatchCandidate.Status.REJECTED
    assert rejected.reviewed_by == reviewer


def test_a_dismissed_record_stays_dismissed_through_syncs(reviewer):
    source = SourceSystemFactory()
    sync(source, fhir_patient("L1"), actor=reviewer)
    services.dismiss_unmatched(
        record=UnmatchedRecord.objects.get(), reason="nobody like them", actor=reviewer
    )

    run = sync(source, fhir_patient("L1"), actor=reviewer)

    assert run.queued == 0
    assert UnmatchedRecord.objects.get().status == UnmatchedRecord.Status.DISMISSED


def test_a_linked_record_that_now_names_someone_else_is_flagged_not_moved(reviewer):
    first, second, source = PatientFactory(), PatientFactory(), SourceSystemFactory()
    sync(source, fhir_patient("L1", first), actor=reviewer)

    run = sync(source, fhir_patient("L1", second), actor=reviewer)

    assert (run.mismatched, run.already_linked, run.linked) == (1, 0, 0)
    assert run.rejections[0]["reason"] == "states a different NHS number from its link"
    assert Link.objects.get().patient == first


def test_a_linked_record_naming_a_merged_duplicate_is_still_the_same_person(reviewer):
    kept, retired, source = PatientFactory(), PatientFactory(), SourceSystemFactory()
    sync(source, fhir_patient("L1", kept), actor=reviewer)
    merged(kept, retired, reason="duplicate", actor=reviewer)
    retired_view = fhir_patient("L1", nhs_number=retired.nhs_number, birth_date=kept.birth_date)

    run = sync(source, retired_view, actor=reviewer)

    assert (run.mismatched, run.already_linked) == (0, 1)


def test_queueing_and_deciding_are_audited_with_the_actor(reviewer):
    PatientFactory(given_names="John", family_name="Smith", postcode="E8 1AA")
    record = services.queue_unmatched(
        source=SourceSystemFactory(),
        local_id="L9",
        demographics=Demographics("Jon", "Smith", datetime.date(1950, 3, 4), "E8 1AA"),
        reason=UnmatchedRecord.Reason.NO_NHS_NUMBER,
        actor=reviewer,
    )
    candidate = record.candidates.get()
    services.reject_candidate(candidate=candidate, reason="another person", actor=reviewer)
    services.dismiss_unmatched(record=record, reason="nobody like them", actor=reviewer)

    for obj in (record, candidate):
        entries = LogEntry.objects.get_for_object(obj)
        assert entries.exists()
        assert {entry.actor for entry in entries} == {reviewer}


def test_undoing_a_merge_that_a_later_merge_built_on_is_refused(reviewer):
    a, b, c = PatientFactory(), PatientFactory(), PatientFactory()
    link = LinkFactory(patient=a)
    first = merged(b, a, actor=reviewer)
    merged(c, b, actor=reviewer)

    with pytest.raises(MergeError, match="later merge"):
        services.unmerge(merge=first, reason="wrong person", actor=reviewer)

    link.refresh_from_db()
    assert link.patient == c
    first.refresh_from_db()
    assert first.undone_at is None
