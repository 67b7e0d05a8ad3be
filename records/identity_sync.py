"""Identity sync: read every Patient a source holds, link those the NHS number identifies, queue
the rest for review. One run either records its links in full or records nothing but its failure.

With PDS configured (records.tracing), every NHS number a new link would rest on is read from PDS
first: links are made to the person under PDS's current number, and PDS that cannot be asked
links nobody.
"""

import logging

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from records.confidentiality import is_restricted
from records.exceptions import LinkConflict
from records.fetching import SWITCHED_OFF, response_limits
from records.matching import Demographics
from records.models import (
    IdentitySyncRun,
    Link,
    MatchMethod,
    Patient,
    SourceSystem,
    SupersededNhsNumber,
    UnmatchedRecord,
)
from records.nhs_numbers import is_valid_nhs_number, normalise_nhs_number
from records.selectors import current_patient
from records.services import link_patient, queue_unmatched, system_user
from records.sources.errors import InvalidResource, SourceError, SourceUnavailable
from records.sources.fhir_client import FhirClient
from records.sources.patients import SourcePatient, parse_patient
from records.tracing import RegisterChanges, Trace, pds_client, register_from_pds, trace_numbers

logger = logging.getLogger(__name__)

MAX_KEPT_REJECTIONS = 100


def sync_source_identities(
    *, source_id: int, actor: AbstractBaseUser | None = None
) -> IdentitySyncRun:
    """Read one source's Patient resources and link or queue each; return the run's record.

    Raises SourceUnavailable (after recording the failed run) so that a task may retry.
    """
    source = SourceSystem.objects.get(pk=source_id)
    run = IdentitySyncRun.objects.create(source=source, started_at=timezone.now())
    if not source.enabled:
        return _finish(run, error=SWITCHED_OFF)
    client = FhirClient(source.base_url, timeout=source.timeout_seconds, limits=response_limits())
    try:
        resources = list(client.search("Patient", {"_count": str(settings.LCR_SOURCE_PAGE_SIZE)}))
    except SourceError as exc:
        logger.warning("identity sync of %s failed: %s (%s)", source, exc.reason, exc.detail)
        _finish(run, error=exc.reason)
        if isinstance(exc, SourceUnavailable):
            raise
        return run

    patients, rejections = _parse_all(resources, source)
    run.seen, run.rejected = len(resources), len(rejections)
    run.rejections = rejections
    pds = pds_client()
    traces = None
    if pds is not None:
        try:
            traces = trace_numbers(_numbers_to_trace(source, patients), pds)
        except SourceError as exc:
            # Never a link on a number PDS has not seen: the whole run waits for PDS.
            reason = f"PDS could not be asked ({exc.reason}); nothing was linked"
            logger.warning("identity sync of %s: %s (%s)", source, reason, exc.detail)
            run.seen = run.rejected = 0
            run.rejections = []
            _finish(run, error=reason)
            if isinstance(exc, SourceUnavailable):
                raise SourceUnavailable(reason, detail=exc.detail) from exc
            return run
    try:
        with transaction.atomic():
            # One sync of a source at a time: a retry or a second command waits for this one.
            SourceSystem.objects.select_for_update().get(pk=source.pk)
            link_or_queue(run, source, patients, actor or system_user(), traces=traces)
    except Exception:
        logger.exception("identity sync of %s could not be saved", source)
        run.linked = run.already_linked = run.queued = run.mismatched = run.superseded = 0
        return _finish(run, error="could not save the results; nothing was changed")
    run.rejections = run.rejections[:MAX_KEPT_REJECTIONS]
    return _finish(run)


def _parse_all(resources: list[dict], source: SourceSystem) -> tuple[list[SourcePatient], list]:
    patients: dict[str, SourcePatient] = {}
    rejections = []
    for index, resource in enumerate(resources):
        try:
            patient = parse_patient(resource)
            if patient.local_id in patients:
                raise InvalidResource("the same Patient id appears twice")
        except InvalidResource as exc:
            local_id = resource.get("id") if isinstance(resource.get("id"), str) else None
            logger.warning(
                "identity sync of %s rejected resource %s (%s): %s %s",
                source,
                index,
                local_id,
                exc.reason,
                exc.detail,
            )
            rejections.append(
                {"index": index, "id": local_id, "reason": exc.reason, "detail": exc.detail}
            )
            continue
        patients[patient.local_id] = patient
    return list(patients.values()), rejections


def _decided_by_people(source: SourceSystem) -> set[str]:
    return set(
        UnmatchedRecord.objects.filter(
            source=source,
            status__in=[UnmatchedRecord.Status.PENDING, UnmatchedRecord.Status.DISMISSED],
        ).values_list("local_id", flat=True)
    )


def _numbers_to_trace(source: SourceSystem, patients: list[SourcePatient]) -> set[str]:
    """The NHS numbers a new link could rest on: of records not linked and not left to people,
    with a number that passes its check and that the source has not marked unverified."""
    linked = set(Link.objects.filter(source=source).values_list("local_id", flat=True))
    waiting = linked | _decided_by_people(source)
    return {
        normalise_nhs_number(p.nhs_number)
        for p in patients
        if p.local_id not in waiting
        and p.nhs_number
        and is_valid_nhs_number(p.nhs_number)
        and p.nhs_number_verified is not False
    }


def link_or_queue(
    run: IdentitySyncRun,
    source: SourceSystem,
    patients: list[SourcePatient],
    actor: AbstractBaseUser,
    *,
    traces: dict[str, Trace] | None = None,
) -> None:
    """Link each record whose verified NHS number and birth date agree with the register; queue
    the rest for a person, including any record a person has already unlinked or dismissed.

    `traces`: what PDS said of each number (None: PDS is not used). A number PDS was not asked
    about is then never linked on."""
    linked = {
        link.local_id: link.patient
        for link in Link.objects.filter(source=source).select_related("patient")
    }
    decided_by_people = _decided_by_people(source)
    stated = {
        normalise_nhs_number(p.nhs_number)
        for p in patients
        if p.nhs_number and is_valid_nhs_number(p.nhs_number)
    }
    register = {
        patient.nhs_number: patient for patient in Patient.objects.filter(nhs_number__in=stated)
    }
    # A source still stating a number PDS has superseded means the patient under the current one.
    for row in SupersededNhsNumber.objects.filter(nhs_number__in=stated).select_related("patient"):
        register[row.nhs_number] = row.patient  # the same person, whatever entry the old one has
    if traces is not None:
        changes = RegisterChanges()
        for number, trace in traces.items():
            if trace.patient is not None:
                entry = register_from_pds(trace.patient, actor=actor, changes=changes)
                if entry is not None:
                    register[number] = entry
                else:
                    register.pop(number, None)
        run.rejections.extend(changes.notes)
    for patient in patients:
        if patient.local_id in linked:
            _check_still_the_same(run, source, patient, linked[patient.local_id], register)
            continue
        trace = _trace_of(patient, traces)
        if trace is not None and trace.refused:
            run.rejected += 1
            run.rejections.append({"id": patient.local_id, "reason": trace.refused})
            continue
        reason, match = _identify(patient, register, trace, pds_used=traces is not None)
        if match is None or patient.local_id in decided_by_people:
            record = queue_unmatched(
                source=source,
                local_id=patient.local_id,
                demographics=Demographics(
                    patient.given_names,
                    patient.family_name,
                    patient.birth_date,
                    # Where a restricted person lives is not copied to the queue, whether PDS,
                    # the source or the register says they are restricted.
                    "" if _restricted_by_pds(trace) else _postcode_to_copy(patient, register),
                ),
                reason=reason or UnmatchedRecord.Reason.UNLINKED,
                stated_nhs_number=patient.nhs_number or "",
                actor=actor,
            )
            run.queued += record.status == UnmatchedRecord.Status.PENDING
            continue
        try:
            link_patient(
                patient=match,
                source=source,
                local_id=patient.local_id,
                matched_by=MatchMethod.NHS_NUMBER,
                score=None,
                actor=actor,
            )
        except LinkConflict as exc:
            logger.warning("identity sync of %s: %s", source, exc)
            run.rejected += 1
            run.rejections.append({"id": patient.local_id, "reason": "linked to another patient"})
            continue
        run.linked += 1
        if trace is not None and trace.patient is not None and trace.patient.superseded:
            run.superseded += 1
            logger.info(
                "identity sync of %s: record %s states a superseded NHS number; linked to the "
                "current one",
                source,
                patient.local_id,
            )


def _restricted_by_pds(trace: Trace | None) -> bool:
    return trace is not None and trace.patient is not None and trace.patient.restricted


def _trace_of(patient: SourcePatient, traces: dict[str, Trace] | None) -> Trace | None:
    if traces is None or not patient.nhs_number or not is_valid_nhs_number(patient.nhs_number):
        return None
    return traces.get(normalise_nhs_number(patient.nhs_number))


def _postcode_to_copy(patient: SourcePatient, register: dict[str, Patient]) -> str:
    """The postcode the review queue may hold of this record: none if the source labels the
    person restricted, or if the register says the person with that NHS number is."""
    stated = patient.nhs_number
    valid = bool(stated) and is_valid_nhs_number(stated)
    on_register = register.get(normalise_nhs_number(stated)) if valid else None
    if is_restricted(patient.confidentiality) or (on_register and on_register.restricted):
        return ""
    return patient.postcode


def _check_still_the_same(
    run: IdentitySyncRun,
    source: SourceSystem,
    patient: SourcePatient,
    linked_to: Patient,
    register: dict[str, Patient],
) -> None:
    """A linked record whose source now names another person is flagged, never silently moved."""
    run.already_linked += 1
    if not patient.nhs_number or not is_valid_nhs_number(patient.nhs_number):
        return
    named = register.get(normalise_nhs_number(patient.nhs_number))
    if named is not None and current_patient(named).pk == current_patient(linked_to).pk:
        return
    run.already_linked -= 1
    run.mismatched += 1
    logger.warning(
        "identity sync of %s: record %s is linked to one patient but now states another "
        "NHS number; review the link",
        source,
        patient.local_id,
    )
    run.rejections.append(
        {"id": patient.local_id, "reason": "states a different NHS number from its link"}
    )


def _identify(
    patient: SourcePatient, register: dict[str, Patient], trace: Trace | None, *, pds_used: bool
) -> tuple[str, Patient | None]:
    """The register entry the stated NHS number names (as PDS traced it, when PDS is used), or
    why the record needs a person."""
    if not patient.nhs_number:
        return UnmatchedRecord.Reason.NO_NHS_NUMBER, None
    if not is_valid_nhs_number(patient.nhs_number):
        return UnmatchedRecord.Reason.INVALID_NHS_NUMBER, None
    if patient.nhs_number_verified is False:
        return UnmatchedRecord.Reason.UNVERIFIED_NHS_NUMBER, None
    if pds_used and (trace is None or trace.patient is None):
        return (trace.reason if trace else "") or UnmatchedRecord.Reason.NOT_KNOWN_TO_PDS, None
    match = register.get(normalise_nhs_number(patient.nhs_number))
    if match is None:
        return UnmatchedRecord.Reason.UNKNOWN_NHS_NUMBER, None
    if patient.birth_date is not None and patient.birth_date != match.birth_date:
        return UnmatchedRecord.Reason.BIRTH_DATE_DIFFERS, None
    return "", current_patient(match)


def _finish(run: IdentitySyncRun, *, error: str = "") -> IdentitySyncRun:
    run.status = IdentitySyncRun.Status.FAILED if error else IdentitySyncRun.Status.SUCCEEDED
    run.error = error
    run.finished_at = timezone.now()
    run.save()
    return run
