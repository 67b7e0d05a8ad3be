"""Candidate matching by demographics: a scored list for a person to review, never a merge."""

import datetime

import pytest
from auditlog.models import LogEntry

from records import services
from records.exceptions import ReviewError
from records.matching import Demographics, normalise_postcode, score_match
from records.models import Link, MatchCandidate, MatchMethod, UnmatchedRecord
from records.selectors import find_candidates
from tests.factories import PatientFactory, SourceSystemFactory

DOB = datetime.date(1948, 7, 21)


def demographics(given="John", family="Smith", dob=DOB, postcode="SE15 4QF") -> Demographics:
    return Demographics(given_names=given, family_name=family, birth_date=dob, postcode=postcode)


def test_exact_match_scores_one():
    assert score_match(demographics(), demographics()).total == 1.0


def test_near_miss_spelling_scores_above_a_different_person_with_the_same_birthday():
    record = demographics(given="Jon", family="Smyth")
    same_person = demographics(given="John", family="Smith")
    different_person = demographics(given="Grace", family="Okafor")
    assert score_match(record, same_person).total > score_match(record, different_person).total
    assert score_match(record, same_person).total >= 0.9


def test_day_and_month_swapped_still_scores_well():
    record = demographics(dob=datetime.date(1948, 3, 4))
    patient = demographics(dob=datetime.date(1948, 4, 3))
    assert score_match(record, patient).breakdown["birth_date"] == 0.7


def test_missing_fields_score_nothing_rather_than_everything():
    empty = Demographics(given_names="", family_name="", birth_date=None, postcode="")
    assert score_match(empty, demographics()).total == 0.0


@pytest.mark.parametrize(
    ("typed", "stored"), [("se154qf", "SE15 4QF"), (" E8 1AA ", "E8 1AA"), ("w1a0ax", "W1A 0AX")]
)
def test_postcodes_are_normalised(typed, stored):
    assert normalise_postcode(typed) == stored


@pytest.mark.django_db
def test_find_candidates_ranks_the_near_miss_first_and_leaves_strangers_out():
    john = PatientFactory(
        given_names="John", family_name="Smith", birth_date=DOB, postcode="SE15 4QF"
    )
    PatientFactory(given_names="Grace", family_name="Okafor", birth_date=DOB, postcode="N16 7HB")
    namesake = PatientFactory(
        given_names="John",
        family_name="Smith",
        birth_date=datetime.date(1990, 1, 1),
        postcode="E1 6AN",
    )

    candidates = find_candidates(demographics(given="Jon", family="Smyth"))

    assert candidates[0][0] == john
    assert all(score.total >= 0.6 for _, score in candidates)
    assert namesake not in [patient for patient, _ in candidates]


@pytest.mark.django_db
def test_queue_unmatched_lists_candidates_without_linking_anyone(reviewer):
    john = PatientFactory(
        given_names="John", family_name="Smith", birth_date=DOB, postcode="SE15 4QF"
    )
    source = SourceSystemFactory()

    record = services.queue_unmatched(
        source=source,
        local_id="LAS-1",
        demographics=demographics(given="Jon"),
        reason=UnmatchedRecord.Reason.NO_NHS_NUMBER,
        actor=reviewer,
    )

    assert record.status == UnmatchedRecord.Status.PENDING
    assert list(record.candidates.values_list("patient", flat=True)) == [john.pk]
    assert not Link.objects.exists()


@pytest.mark.django_db
def test_confirming_a_candidate_links_by_demographics_and_resolves_the_record(reviewer):
    PatientFactory(given_names="John", family_name="Smith", birth_date=DOB, postcode="SE15 4QF")
    record = services.queue_unmatched(
        source=SourceSystemFactory(),
        local_id="LAS-1",
        demographics=demographics(given="Jon"),
        reason=UnmatchedRecord.Reason.NO_NHS_NUMBER,
        actor=reviewer,
    )
    candidate = record.candidates.get()

    link = services.confirm_candidate(candidate=candidate, reason="same person", actor=reviewer)

    assert link.matched_by == MatchMethod.DEMOGRAPHICS
    assert link.match_score == candidate.score
    assert link.confirmed_by == reviewer
    record.refresh_from_db()
    assert record.status == UnmatchedRecord.Status.LINKED
    assert record.resolved_by == reviewer
    assert LogEntry.objects.get_for_object(link).get().actor == reviewer
    with pytest.raises(ReviewError):
        services.confirm_candidate(candidate=candidate, reason="same person", actor=reviewer)


@pytest.mark.django_db
def test_a_rejected_candidate_is_not_offered_again(reviewer):
    PatientFactory(given_names="John", family_name="Smith", birth_date=DOB, postcode="SE15 4QF")
    source = SourceSystemFactory()
    record = services.queue_unmatched(
        source=source,
        local_id="LAS-1",
        demographics=demographics(given="Jon"),
        reason=UnmatchedRecord.Reason.NO_NHS_NUMBER,
        actor=reviewer,
    )
    services.reject_candidate(
        candidate=record.candidates.get(), reason="another person", actor=reviewer
    )

    services.queue_unmatched(
        source=source,
        local_id="LAS-1",
        demographics=demographics(given="Jon"),
        reason=UnmatchedRecord.Reason.NO_NHS_NUMBER,
        actor=reviewer,
    )

    assert record.candidates.count() == 1
    assert record.candidates.get().status == MatchCandidate.Status.REJECTED
    assert not Link.objects.exists()


@pytest.mark.django_db
def test_dismissing_a_record_keeps_it_off_the_queue(reviewer):
    record = services.queue_unmatched(
        source=SourceSystemFactory(),
        local_id="LAS-9",
        demographics=demographics(),
        reason=UnmatchedRecord.Reason.NO_NHS_NUMBER,
        actor=reviewer,
    )
    services.dismiss_unmatched(record=record, reason="nobody", actor=reviewer)
    assert UnmatchedRecord.objects.get().status == UnmatchedRecord.Status.DISMISSED
    with pytest.raises(ReviewError):
        services.dismiss_unmatched(record=record, reason="nobody", actor=reviewer)
