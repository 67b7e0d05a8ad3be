"""Read queries of the identity register, kept bounded whatever the register's size."""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from records.matching import Demographics, Score, score_match, transposed_date
from records.models import (
    IdentitySyncRun,
    MatchCandidate,
    MergeDifference,
    Patient,
    PatientMerge,
    PatientMergeRequest,
    Snapshot,
    SourceSystem,
    SupersededNhsNumber,
    UnmatchedRecord,
)

# Each pre-filter is one indexed equality, capped separately, so that a common surname cannot
# crowd out the rows that share a date of birth.
ROWS_PER_FILTER = 1000


def find_candidates(
    record: Demographics,
    *,
    exclude_patient_ids: tuple[int, ...] = (),
    limit: int | None = None,
    min_score: float | None = None,
) -> list[tuple[Patient, Score]]:
    """Register patients who might be the person in `record`, best first, with their scores."""
    limit = settings.LCR_MATCH_MAX_CANDIDATES if limit is None else limit
    min_score = settings.LCR_MATCH_MIN_SCORE if min_score is None else min_score
    filters = []
    if record.birth_date:
        filters.append(Q(birth_date=record.birth_date))
        swapped = transposed_date(record.birth_date)
        if swapped:
            filters.append(Q(birth_date=swapped))
    if record.postcode:
        filters.append(Q(postcode=record.postcode))
    if record.family_name:
        filters.append(Q(family_name__iexact=record.family_name))
    live = Patient.objects.current().exclude(pk__in=exclude_patient_ids)
    ids: set[int] = set()
    for near in filters:
        ids.update(live.filter(near).values_list("pk", flat=True)[:ROWS_PER_FILTER])
    rows = Patient.objects.filter(pk__in=ids).only(
        "given_names", "family_name", "birth_date", "postcode", "nhs_number", "confidentiality"
    )
    scored = []
    for patient in rows:
        score = score_match(
            record,
            Demographics(
                given_names=patient.given_names,
                family_name=patient.family_name,
                birth_date=patient.birth_date,
                postcode=patient.postcode,
            ),
        )
        if score.total >= min_score:
            scored.append((patient, score))
    scored.sort(key=lambda pair: (-pair[1].total, pair[0].pk))
    return scored[:limit]


def current_patient(patient: Patient) -> Patient:
    """Follow merges to the register entry that now stands for this person."""
    seen = {patient.pk}
    while patient.merged_into_id is not None:
        patient = patient.merged_into
        if patient.pk in seen:
            break
        seen.add(patient.pk)
    return patient


def records_of_the_same_person(patient: Patient) -> list[int]:
    """This register entry and every entry merged into it, however many merges deep: the ids
    under which the person's history (their access report) was recorded. One query a level."""
    found, level = [patient.pk], [patient.pk]
    while level:
        level = [
            pk
            for pk in Patient.objects.filter(merged_into__in=level).values_list("pk", flat=True)
            if pk not in found
        ]
        found += level
    return found


def sources_with_latest_sync() -> QuerySet[SourceSystem]:
    """Every source with its link count and the outcome of its latest identity sync (one query)."""
    latest = IdentitySyncRun.objects.filter(source=OuterRef("pk")).order_by("-started_at")
    return SourceSystem.objects.order_by("name").annotate(
        link_count=Count("links"),
        last_sync_status=Subquery(latest.values("status")[:1]),
        last_sync_at=Subquery(latest.values("finished_at")[:1]),
        last_sync_error=Subquery(latest.values("error")[:1]),
    )


def snapshots_for(*, patient: Patient, categories: tuple[str, ...]) -> QuerySet[Snapshot]:
    """The cached snapshots of a patient's record for these categories, with their sources."""
    return (
        Snapshot.objects.filter(link__patient=patient, category__in=categories)
        .select_related("link__source")
        .order_by("link__source__name", "link_id", "category")
    )


def merge_differences(*, kept: Patient, retired: Patient) -> list[str]:
    """What differs between two register entries asked to be merged (MergeDifference values):
    date of birth, sex, and NHS number unless PDS has superseded the one with the other."""
    differences = []
    if kept.birth_date != retired.birth_date:
        differences.append(MergeDifference.BIRTH_DATE)
    if kept.sex != retired.sex:
        differences.append(MergeDifference.SEX)
    one_person = SupersededNhsNumber.objects.filter(
        Q(nhs_number=retired.nhs_number, patient=kept)
        | Q(nhs_number=kept.nhs_number, patient=retired)
    ).exists()
    if kept.nhs_number != retired.nhs_number and not one_person:
        differences.append(MergeDifference.NHS_NUMBER)
    return [str(d) for d in differences]


class QueueAge(models.TextChoices):
    """How long records have waited, as the queue can be narrowed to."""

    ANY = "", "Any time"
    WEEK = "week", "More than a week"
    MONTH = "month", "More than a month"


QUEUE_AGE_DAYS = {QueueAge.WEEK: 7, QueueAge.MONTH: 30}
QUEUE_STATES = {
    "waiting": UnmatchedRecord.WAITING,
    UnmatchedRecord.Status.PENDING: (UnmatchedRecord.Status.PENDING,),
    UnmatchedRecord.Status.NEEDS_INFORMATION: (UnmatchedRecord.Status.NEEDS_INFORMATION,),
    UnmatchedRecord.Status.LINKED: (UnmatchedRecord.Status.LINKED,),
    UnmatchedRecord.Status.DISMISSED: (UnmatchedRecord.Status.DISMISSED,),
}


@dataclass(frozen=True)
class IdentityQueueFilter:
    """What a reviewer narrows the queue of source records to; empty fields narrow nothing."""

    status: str = "waiting"
    source_id: int | None = None
    reason: str = ""
    age: str = QueueAge.ANY


def identity_queue(filters: IdentityQueueFilter) -> QuerySet[UnmatchedRecord]:
    """Source records by review state (waiting by default), oldest first as a queue is worked,
    each with its source, its number of candidates still to decide and their best score: one
    query whatever the queue's length (through the (status, first_seen_at) index)."""
    records = UnmatchedRecord.objects.filter(status__in=QUEUE_STATES[filters.status])
    if filters.source_id is not None:
        records = records.filter(source_id=filters.source_id)
    if filters.reason:
        records = records.filter(reason=filters.reason)
    if filters.age in QUEUE_AGE_DAYS:
        cutoff = timezone.now() - datetime.timedelta(days=QUEUE_AGE_DAYS[filters.age])
        records = records.filter(first_seen_at__lt=cutoff)
    open_candidates = Q(candidates__status=MatchCandidate.Status.PENDING)
    return (
        records.select_related("source")
        .annotate(
            candidate_count=Count("candidates", filter=open_candidates),
            best_score=Max("candidates__score", filter=open_candidates),
        )
        .order_by("first_seen_at", "pk")
    )


def waiting_for_review() -> int:
    """How many source records wait for a reviewer (one indexed count)."""
    return UnmatchedRecord.objects.filter(status__in=UnmatchedRecord.WAITING).count()


def record_for_review(record_id: int) -> tuple[UnmatchedRecord, list[MatchCandidate]]:
    """A source record with its source, and its candidates (best first) with their register
    patients and who decided them: two queries. UnmatchedRecord.DoesNotExist if there is none."""
    record = UnmatchedRecord.objects.select_related("source", "resolved_by").get(pk=record_id)
    candidates = list(
        record.candidates.select_related("patient", "reviewed_by").order_by("-score", "pk")
    )
    return record, candidates


def merge_requests_waiting() -> QuerySet[PatientMergeRequest]:
    """Merge requests waiting for a second person, oldest first, with who asked."""
    return (
        PatientMergeRequest.objects.filter(status=PatientMergeRequest.Status.PENDING)
        .select_related("requested_by")
        .order_by("requested_at", "pk")
    )


def recent_merges(limit: int = 20) -> list[PatientMerge]:
    """The latest merges, newest first, with who made, approved and undid them."""
    return list(
        PatientMerge.objects.select_related("merged_by", "approved_by", "undone_by").order_by(
            "-merged_at", "-pk"
        )[:limit]
    )
