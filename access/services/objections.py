"""A patient's objection to sharing their record: recorded with what they asked, withdrawn by
them later; while it stands, only emergency access opens the record.

Recorded either by a member of staff on the patient's word (`actor`), or by the patient
themselves signed in through NHS login (`by_patient`, no actor: they are not a user here).
"""

import contextlib

from auditlog.context import set_actor
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from access.exceptions import ObjectionError
from access.models import Objection
from access.services.free_text import checked_text
from records.models import Patient


def _who(actor: AbstractBaseUser | None, by_patient: bool):
    """The change history's actor: the member of staff, or nobody (the patient is no user)."""
    if by_patient == (actor is not None):
        raise ObjectionError("Say who does this: a member of staff, or the patient themselves.")
    return set_actor(actor) if actor is not None else contextlib.nullcontext()


@transaction.atomic
def record_objection(
    *,
    patient: Patient,
    notes: str,
    actor: AbstractBaseUser | None = None,
    by_patient: bool = False,
) -> Objection:
    """A new objection (or, when one already stands, that one: objecting twice changes nothing)."""
    notes = checked_text(notes, "the notes", ObjectionError)
    if not notes:
        raise ObjectionError("Say what the patient asked and how it was recorded.")
    with _who(actor, by_patient):
        standing = (
            Objection.objects.select_for_update()
            .filter(patient=patient, withdrawn_at__isnull=True)
            .first()
        )
        if standing is not None and by_patient:
            return standing
        return Objection.objects.create(
            patient=patient,
            notes=notes,
            recorded_by=actor,
            recorded_by_patient=by_patient,
            recorded_at=timezone.now(),
        )


def withdraw_objection(
    *,
    objection: Objection,
    actor: AbstractBaseUser | None = None,
    by_patient: bool = False,
) -> Objection:
    with _who(actor, by_patient):
        if objection.withdrawn_at is not None:
            return objection
        objection.withdrawn_at, objection.withdrawn_by = timezone.now(), actor
        objection.withdrawn_by_patient = by_patient
        objection.save()
    return objection
