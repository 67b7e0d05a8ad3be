"""Read queries of the identity register, kept bounded whatever the register's size."""

from django.conf import settings
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from records.matching import Demographics, Score, score_match, transposed_date
from records.models import IdentitySyncRun, Patient, Snapshot, SourceSystem

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
