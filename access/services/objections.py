"""A patient's objection to sharing their record: recorded with what they asked, withdrawn by
them later; while it stands, only emergency access opens the record."""

from auditlog.context import set_actor
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from access.exceptions import ObjectionError
from access.models import Objection
from access.services.free_text import checked_text
from records.models import Patient


def record_objection(*, patient: Patient, notes: str, actor: AbstractBaseUser) -> Objection:
    notes = checked_text(notes, "the notes", ObjectionError)
    if not notes:
        raise ObjectionError("Say what the patient asked and how it was recorded.")
    with set_actor(actor):
        return Objection.objects.create(
            patient=patient, notes=notes, recorded_by=actor, recorded_at=timezone.now()
        )


def withdraw_objection(*, objection: Objection, actor: AbstractBaseUser) -> Objection:
    with set_actor(actor):
        objection.withdrawn_at, objection.withdrawn_by = timezone.now(), actor
        objection.save()
    return objection
