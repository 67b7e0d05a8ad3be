"""Changes to the identity register: linking, review of candidate matches, unlinking, merging.

Every function here records the acting user in django-auditlog; none links anyone silently.
Every reviewer's decision carries their reason; a merge of entries that differ in date of birth,
sex or NHS number needs a second person (request_merge, approve_merge_request).
"""

from auditlog.context import set_actor
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from records.confidentiality import stricter
from records.exceptions import LinkConflict, MergeError, ReasonMissing, ReviewError
from records.matching import Demographics, normalise_postcode
from records.models import (
    Link,
    MatchCandidate,
    MatchMethod,
    MergeDifference,
    Patient,
    PatientMerge,
    PatientMergeRequest,
    SourceSystem,
    UnmatchedRecord,
)
from records.permissions import may_merge
from records.selectors import current_patient, find_candidates, merge_differences

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
            .filter(source=source, local_id=local_id, status__in=UnmatchedRecord.WAITING)
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
                "decision_reason": "",
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
        if record.status not in UnmatchedRecord.WAITING:
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


def _reason(reason: str, refusal: str) -> str:
    """A reviewer's reason, as they typed it (trimmed); ReasonMissing(`refusal`) if none."""
    reason = (reason or "").strip()
    if not reason:
        raise ReasonMissing(refusal)
    return reason


def _waiting_record(record_id: int) -> UnmatchedRecord:
    record = UnmatchedRecord.objects.select_for_update().select_related("source").get(pk=record_id)
    if record.status not in UnmatchedRecord.WAITING:
        raise ReviewError("This source record is no longer waiting for review.")
    return record


@transaction.atomic
def confirm_candidate(*, candidate: MatchCandidate, reason: str, actor: AbstractBaseUser) -> Link:
    """A reviewer says this is the same person, and why: link the source record to them."""
    reason = _reason(reason, "Enter why this is the same person")
    candidate = MatchCandidate.objects.select_for_update().get(pk=candidate.pk)
    record = _waiting_record(candidate.record_id)
    if candidate.status != MatchCandidate.Status.PENDING:
        raise ReviewError("This candidate has already been decided.")
    link = link_patient(
        patient=candidate.patient,
        source=record.source,
        local_id=record.local_id,
        matched_by=MatchMethod.DEMOGRAPHICS,
        score=candidate.score,
        actor=actor,
    )
    _decide(candidate, MatchCandidate.Status.CONFIRMED, reason, actor)
    with set_actor(actor):  # link_patient marked the record linked; the reason goes with it
        linked = UnmatchedRecord.objects.get(pk=record.pk)
        linked.decision_reason = reason
        linked.save()
    return link


@transaction.atomic
def reject_candidate(
    *, candidate: MatchCandidate, reason: str, actor: AbstractBaseUser
) -> MatchCandidate:
    """A reviewer says this is not the same person, and why; the candidate is not offered again."""
    reason = _reason(reason, "Enter why this is not the same person")
    candidate = MatchCandidate.objects.select_for_update().get(pk=candidate.pk)
    _waiting_record(candidate.record_id)
    if candidate.status != MatchCandidate.Status.PENDING:
        raise ReviewError("This candidate has already been decided.")
    return _decide(candidate, MatchCandidate.Status.REJECTED, reason, actor)


def _decide(
    candidate: MatchCandidate, status: str, reason: str, actor: AbstractBaseUser
) -> MatchCandidate:
    with set_actor(actor):
        candidate.status = status
        candidate.decision_reason = reason
        candidate.reviewed_by, candidate.reviewed_at = actor, timezone.now()
        candidate.save()
    return candidate


@transaction.atomic
def ask_for_more_information(
    *, record: UnmatchedRecord, reason: str, actor: AbstractBaseUser
) -> UnmatchedRecord:
    """A reviewer cannot decide yet: the record waits, marked, with what is needed. It stays on
    the queue (identity sync keeps refreshing it) until someone links or dismisses it."""
    reason = _reason(reason, "Enter what information is needed, and from whom")
    record = _waiting_record(record.pk)
    return _resolve(record, UnmatchedRecord.Status.NEEDS_INFORMATION, reason, actor)


@transaction.atomic
def dismiss_unmatched(
    *, record: UnmatchedRecord, reason: str, actor: AbstractBaseUser
) -> UnmatchedRecord:
    """A reviewer found nobody in the register for this source record, and says why."""
    reason = _reason(reason, "Enter why nobody in the register is this person")
    record = _waiting_record(record.pk)
    return _resolve(record, UnmatchedRecord.Status.DISMISSED, reason, actor)


def _resolve(
    record: UnmatchedRecord, status: str, reason: str, actor: AbstractBaseUser
) -> UnmatchedRecord:
    with set_actor(actor):
        record.status = status
        record.decision_reason = reason
        record.resolved_by, record.resolved_at = actor, timezone.now()
        record.save()
    return record


@transaction.atomic
def merge_patients(
    *, kept: Patient, retired: Patient, reason: str, actor: AbstractBaseUser
) -> PatientMerge:
    """Two register entries are one person: move every link to `kept`, remember what moved.

    Only for entries that agree on date of birth and sex and whose NHS numbers PDS has made one
    (the retired number superseded by the kept one); any other pair needs a second person:
    request_merge, then approve_merge_request."""
    kept, retired, reason = _mergeable(kept, retired, reason)
    differences = merge_differences(kept=kept, retired=retired)
    if differences:
        words = " and ".join(MergeDifference(d).label for d in differences)
        raise MergeError(
            f"These records differ in {words}: a second person must approve this merge."
        )
    return _merge(kept, retired, reason=reason, actor=actor)


def _mergeable(kept: Patient, retired: Patient, reason: str) -> tuple[Patient, Patient, str]:
    """Both entries locked and still standing, and a reason; MergeError otherwise."""
    reason = _reason(reason, "Enter why these records are the same person")
    locked = {
        p.pk: p for p in Patient.objects.select_for_update().filter(pk__in=[kept.pk, retired.pk])
    }
    if kept.pk == retired.pk or len(locked) != 2:
        raise MergeError("Choose two different patients to merge.")
    kept, retired = locked[kept.pk], locked[retired.pk]
    if kept.merged_into_id or retired.merged_into_id:
        raise MergeError("One of these records has already been merged into another.")
    return kept, retired, reason


def _merge(
    kept: Patient,
    retired: Patient,
    *,
    reason: str,
    actor: AbstractBaseUser,
    merged_by: AbstractBaseUser | None = None,
) -> PatientMerge:
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
            reason=reason,
            merged_by=merged_by or actor,
            approved_by=actor if merged_by is not None else None,
            merged_at=timezone.now(),
        )


@transaction.atomic
def request_merge(
    *, kept: Patient, retired: Patient, reason: str, actor: AbstractBaseUser
) -> PatientMergeRequest:
    """Ask for two entries that differ (date of birth, sex or NHS number) to be merged: the
    request waits for a different person with the merge permission (approve_merge_request)."""
    kept, retired, reason = _mergeable(kept, retired, reason)
    differences = merge_differences(kept=kept, retired=retired)
    if not differences:
        raise MergeError("These records agree: merge them without asking for approval.")
    pair = [kept.pk, retired.pk]
    if PatientMergeRequest.objects.filter(
        kept__in=pair, retired__in=pair, status=PatientMergeRequest.Status.PENDING
    ).exists():
        raise MergeError("A merge of these two records already waits for approval.")
    with set_actor(actor):
        try:
            with transaction.atomic():
                return PatientMergeRequest.objects.create(
                    kept=kept,
                    retired=retired,
                    differences=differences,
                    reason=reason,
                    requested_by=actor,
                    requested_at=timezone.now(),
                )
        except IntegrityError as exc:
            raise MergeError("A merge of these two records already waits for approval.") from exc


def _pending_request(request: PatientMergeRequest, actor: AbstractBaseUser) -> PatientMergeRequest:
    request = PatientMergeRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != PatientMergeRequest.Status.PENDING:
        raise MergeError("This merge request has already been decided.")
    if request.requested_by_id == actor.pk:
        raise MergeError("Someone else must decide a merge you asked for.")
    if not may_merge(actor):
        raise MergeError("Only someone who may merge records can decide a merge request.")
    return request


@transaction.atomic
def approve_merge_request(
    *, request: PatientMergeRequest, reason: str, actor: AbstractBaseUser
) -> PatientMerge:
    """The second person agrees: the merge is made (by the requester, approved by `actor`)."""
    reason = _reason(reason, "Enter why you agree these records are the same person")
    request = _pending_request(request, actor)
    kept, retired, _ = _mergeable(request.kept, request.retired, request.reason)
    merge = _merge(
        kept, retired, reason=request.reason, actor=actor, merged_by=request.requested_by
    )
    _decide_request(request, PatientMergeRequest.Status.APPROVED, reason, actor, merge=merge)
    return merge


@transaction.atomic
def refuse_merge_request(
    *, request: PatientMergeRequest, reason: str, actor: AbstractBaseUser
) -> PatientMergeRequest:
    """The second person does not agree: nothing is merged."""
    reason = _reason(reason, "Enter why these records should not be merged")
    request = _pending_request(request, actor)
    return _decide_request(request, PatientMergeRequest.Status.REFUSED, reason, actor)


def _decide_request(
    request: PatientMergeRequest,
    status: str,
    reason: str,
    actor: AbstractBaseUser,
    merge: PatientMerge | None = None,
) -> PatientMergeRequest:
    with set_actor(actor):
        request.status = status
        request.decision_reason = reason
        request.decided_by, request.decided_at = actor, timezone.now()
        request.merge = merge
        request.save()
    return request


@transaction.atomic
def unmerge(*, merge: PatientMerge, reason: str, actor: AbstractBaseUser) -> PatientMerge:
    """Undo a merge, saying why: the links that moved go back, and the retired entry stands."""
    reason = _reason(reason, "Enter why this merge is being undone")
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
        merge.undo_reason = reason
        merge.save()
    return merge
