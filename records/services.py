"""Changes to the identity register: linking, review of candidate matches, unlinking, merging.

Every function here records the acting user in django-auditlog; none links anyone silently.
"""

from auditlog.context import set_actor
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from records.confidentiality import stricter
from records.exceptions import LinkConflict, MergeError, ReviewError
from records.matching import Demographics, normalise_postcode
from records.models import (
    Link,
    MatchCandidate,
    MatchMethod,
    Patient,
    PatientMerge,
    SourceSystem,
    UnmatchedRecord,
)
from records.selectors import current_patient, find_candidates

SYSTEM_USERNAME = "system.identity-sync"


def system_user(username: str = SYSTEM_USERNAME, name: str = "Identity sync") -> AbstractBaseUser:
    """The account an automatic process acts as (identity sync by default); it cannot sign in."""
    user, created = get_user_model().objects.get_or_create(
        username=username, defaults={"is_active": False, "first_name": name}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def link_patient(
    *,
    patient: Patient,
    source: SourceSystem,
    local_id: str,
    matched_by: str,
    score: float | None,
    actor: AbstractBaseUser,
) -> Link:
    """Link a source's local id to a register patient (idempotent); resolves its review entry."""
    # Lock the patient so that a merge cannot move it from under the new link.
    patient = current_patient(Patient.objects.select_for_update().get(pk=patient.pk))
    existing = Link.objects.filter(source=source, local_id=local_id).first()
    if existing is not None:
        if existing.patient_id == patient.pk:
            return existing
        raise LinkConflict(
            f"{source.name} record {local_id} is already linked to another patient; "
            "unlink it first if that link is wrong."
        )
    now = timezone.now()
    with set_actor(actor):
        try:
            with transaction.atomic():
                link = Link.objects.create(
                    patient=patient,
                    source=source,
                    local_id=local_id,
                    matched_by=matched_by,
                    match_score=score,
                    confirmed_by=actor,
                    confirmed_at=now,
                )
        except IntegrityError as exc:
            raise LinkConflict(f"{source.name} record {local_id} was linked meanwhile.") from exc
        waiting = (
            UnmatchedRecord.objects.select_for_update()
            .filter(source=source, local_id=local_id, status=UnmatchedRecord.Status.PENDING)
            .first()
        )
        if waiting is not None:
            waiting.status = UnmatchedRecord.Status.LINKED
            waiting.resolved_by, waiting.resolved_at = actor, now
            waiting.save()
    return link


@transaction.atomic
def unlink(*, link: Link, actor: AbstractBaseUser) -> UnmatchedRecord:
    """Undo a link: the source record goes back on the review queue, never to be linked to that
    patient again by itself; identity sync will not re-link it by NHS number either."""
    link = Link.objects.select_for_update().select_related("patient").get(pk=link.pk)
    with set_actor(actor):
        record, _ = UnmatchedRecord.objects.update_or_create(
            source_id=link.source_id,
            local_id=link.local_id,
            defaults={
                "reason": UnmatchedRecord.Reason.UNLINKED,
                "status": UnmatchedRecord.Status.PENDING,
                "resolved_by": None,
                "resolved_at": None,
            },
            create_defaults={
                "reason": UnmatchedRecord.Reason.UNLINKED,
                "given_names": link.patient.given_names,
                "family_name": link.patient.family_name,
                "birth_date": link.patient.birth_date,
                "postcode": link.patient.postcode,
            },
        )
        MatchCandidate.objects.update_or_create(
            record=record,
            patient=link.patient,
            defaults={
                "status": MatchCandidate.Status.REJECTED,
                "reviewed_by": actor,
                "reviewed_at": timezone.now(),
            },
            create_defaults={
                "score": link.match_score or 0.0,
                "status": MatchCandidate.Status.REJECTED,
                "reviewed_by": actor,
                "reviewed_at": timezone.now(),
            },
        )
        link.delete()
    return record


@transaction.atomic
def queue_unmatched(
    *,
    source: SourceSystem,
    local_id: str,
    demographics: Demographics,
    reason: str,
    actor: AbstractBaseUser,
    stated_nhs_number: str = "",
) -> UnmatchedRecord:
    """Put a source record that NHS number could not link on the review queue, with candidates.

    A record a person has already decided keeps their decision; its demographics are refreshed.
    """
    demographics = Demographics(
        given_names=demographics.given_names.strip()[:200],
        family_name=demographics.family_name.strip()[:100],
        birth_date=demographics.birth_date,
        postcode=normalise_postcode(demographics.postcode)[:8],
    )
    with set_actor(actor):
        record, _ = UnmatchedRecord.objects.select_for_update().update_or_create(
            source=source,
            local_id=local_id,
            defaults={
                "stated_nhs_number": stated_nhs_number[:20],
                "given_names": demographics.given_names,
                "family_name": demographics.family_name,
                "birth_date": demographics.birth_date,
                "postcode": demographics.postcode,
            },
            create_defaults={
                "reason": reason,
                "stated_nhs_number": stated_nhs_number[:20],
                "given_names": demographics.given_names,
                "family_name": demographics.family_name,
                "birth_date": demographics.birth_date,
                "postcode": demographics.postcode,
            },
        )
        if record.status != UnmatchedRecord.Status.PENDING:
            return record
        rejected = tuple(
            record.candidates.filter(status=MatchCandidate.Status.REJECTED).values_list(
                "patient_id", flat=True
            )
        )
        for stale in record.candidates.filter(status=MatchCandidate.Status.PENDING):
            stale.delete()
        found = find_candidates(demographics, exclude_patient_ids=rejected)
        for patient, score in found:
            MatchCandidate.objects.create(
                record=record, patient=patient, score=score.total, breakdown=score.breakdown
            )
        # A record that may be a restricted person keeps no postcode of theirs (a reviewer
        # would read it beside them).
        if record.postcode and (
            any(patient.restricted for patient, _ in found)
            or record.candidates.filter(patient__in=Patient.objects.restricted()).exists()
        ):
            UnmatchedRecord.objects.filter(pk=record.pk).update(postcode="")
            record.postcode = ""
    return record


@transaction.atomic
def confirm_candidate(*, candidate: MatchCandidate, actor: AbstractBaseUser) -> Link:
    """A reviewer says this is the same person: link the source record to them."""
    candidate = MatchCandidate.objects.select_for_update().get(pk=candidate.pk)
    record = (
        UnmatchedRecord.objects.select_for_update()
        .select_related("source")
        .get(pk=candidate.record_id)
    )
    if candidate.status != MatchCandidate.Status.PENDING:
        raise ReviewError("This candidate has already been decided.")
    if record.status != UnmatchedRecord.Status.PENDING:
        raise ReviewError("This source record is no longer waiting for review.")
    link = link_patient(
        patient=candidate.patient,
        source=record.source,
        local_id=record.local_id,
        matched_by=MatchMethod.DEMOGRAPHICS,
        score=candidate.score,
        actor=actor,
    )
    _decide(candidate, MatchCandidate.Status.CONFIRMED, actor)
    return link


@transaction.atomic
def reject_candidate(*, candidate: MatchCandidate, actor: AbstractBaseUser) -> MatchCandidate:
    """A reviewer says this is not the same person; the candidate is not offered again."""
    candidate = MatchCandidate.objects.select_for_update().get(pk=candidate.pk)
    if candidate.status != MatchCandidate.Status.PENDING:
        raise ReviewError("This candidate has already been decided.")
    return _decide(candidate, MatchCandidate.Status.REJECTED, actor)


def _decide(candidate: MatchCandidate, status: str, actor: AbstractBaseUser) -> MatchCandidate:
    with set_actor(actor):
        candidate.status = status
        candidate.reviewed_by, candidate.reviewed_at = actor, timezone.now()
        candidate.save()
    return candidate


@transaction.atomic
def dismiss_unmatched(*, record: UnmatchedRecord, actor: AbstractBaseUser) -> UnmatchedRecord:
    """A reviewer found nobody in the register for this source record."""
    record = UnmatchedRecord.objects.select_for_update().get(pk=record.pk)
    if record.status != UnmatchedRecord.Status.PENDING:
        raise ReviewError("This source record is no longer waiting for review.")
    with set_actor(actor):
        record.status = UnmatchedRecord.Status.DISMISSED
        record.resolved_by, record.resolved_at = actor, timezone.now()
        record.save()
    return record


@transaction.atomic
def merge_patients(
    *, kept: Patient, retired: Patient, reason: str, actor: AbstractBaseUser
) -> PatientMerge:
    """Two register entries are one person: move every link to `kept`, remember what moved."""
    if not reason.strip():
        raise MergeError("Say why these records are the same person.")
    locked = {
        p.pk: p for p in Patient.objects.select_for_update().filter(pk__in=[kept.pk, retired.pk])
    }
    if kept.pk == retired.pk or len(locked) != 2:
        raise MergeError("Choose two different patients to merge.")
    kept, retired = locked[kept.pk], locked[retired.pk]
    if kept.merged_into_id or retired.merged_into_id:
        raise MergeError("One of these records has already been merged into another.")
    links = list(Link.objects.select_for_update().filter(patient=retired).order_by("pk"))
    with set_actor(actor):
        for link in links:
            link.patient = kept
            link.save()
        retired.merged_into = kept
        retired.save()
        if stricter(retired.confidentiality, kept.confidentiality) != kept.confidentiality:
            # One person: restricted as either record said (save() clears the details).
            kept.confidentiality = retired.confidentiality
            kept.save()
        return PatientMerge.objects.create(
            kept=kept,
            retired=retired,
            moved_link_ids=[link.pk for link in links],
            reason=reason.strip(),
            merged_by=actor,
            merged_at=timezone.now(),
        )


@transaction.atomic
def unmerge(*, merge: PatientMerge, actor: AbstractBaseUser) -> PatientMerge:
    """Undo a merge: the links that moved go back, and the retired entry stands again."""
    merge = PatientMerge.objects.select_for_update().get(pk=merge.pk)
    if merge.undone_at is not None:
        raise MergeError("This merge has already been undone.")
    retired = Patient.objects.select_for_update().get(pk=merge.retired_id)
    kept = Patient.objects.select_for_update().get(pk=merge.kept_id)
    if retired.merged_into_id != kept.pk or kept.merged_into_id is not None:
        raise MergeError("A later merge involves these records; undo that merge first.")
    # Links unlinked since the merge are gone for good; any that moved on elsewhere block the undo.
    links = list(Link.objects.select_for_update().filter(pk__in=merge.moved_link_ids))
    if any(link.patient_id != kept.pk for link in links):
        raise MergeError("Some links have moved since the merge; undo those changes first.")
    with set_actor(actor):
        for link in links:
            link.patient = retired
            link.save()
        retired.merged_into = None
        retired.save()
        merge.undone_by, merge.undone_at = actor, timezone.now()
        merge.save()
    return merge
