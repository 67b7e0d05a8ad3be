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
        # The person's register row, locked: two objections at once (a double post, staff and
        # the patient together) are one after the other, and the second finds the first.
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        standing = Objection.objects.filter(patient=patient, withdrawn_at__isnull=True).first()
        if standing is not None:
            return standing
        return Objection.objects.create(
            patient=patient,
            notes=notes,
            recorded_by=actor,
            recorded_by_patient=by_patient,
            recorded_at=timezone.now(),
        )


@transaction.atomic
def withdraw_objection(
    *,
    objection: Objection,
    actor: AbstractBaseUser | None = None,
    by_patient: bool = False,
) -> Objection:
    """Ends the objection, once: a second withdrawal (a stale page, staff and the patient
    together) changes nothing, so who withdrew it stays who did. One the patient recorded
    themselves through NHS login is theirs to withdraw, there."""
    with _who(actor, by_patient):
        if objection.recorded_by_patient and not by_patient:
            raise ObjectionError(
                "The patient recorded this objection themselves, through NHS login: only they "
                "can withdraw it, in their part of the portal."
            )
        # Read again, locked (the caller's copy may be stale), and saved (not update(): the
        # change history is written by save's signals).
        current = Objection.objects.select_for_update().get(pk=objection.pk)
        if current.withdrawn_at is None:
            current.withdrawn_at, current.withdrawn_by = timezone.now(), actor
            current.withdrawn_by_patient = by_patient
            current.save()
    return current
