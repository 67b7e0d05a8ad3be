"""Read queries of access control, bounded whatever the number of patients or relationships."""

import functools

from django.contrib.auth.models import Permission
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from access.models import (
    VIEW_RECORD_CODENAME,
    CareRelationship,
    Objection,
    PatientGroupObjectPermission,
    PatientUserObjectPermission,
)
from access.policy import Actor, sees_records
from records.models import Patient


def my_patients(actor: Actor) -> QuerySet[Patient]:
    """Patients the actor's team (or the actor) cares for today, with the guardian grant in place.

    One query, driven by the team's relationships (indexed by team), each row's grant checked
    through guardian's unique (holder, permission, patient) index; bounded by the team's size,
    never by the register's.
    """
    if not sees_records(actor):
        return Patient.objects.none()
    today = timezone.localdate()
    holders = Q(user_id=actor.user.pk)
    if actor.team is not None:
        holders |= Q(team_id=actor.team.pk)
    active = (
        CareRelationship.objects.filter(holders, ended_at__isnull=True, starts_on__lte=today)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=today))
        .values("patient_id")
    )
    permission = _view_record_permission_id()
    granted = Exists(
        PatientUserObjectPermission.objects.filter(
            user_id=actor.user.pk, permission_id=permission, content_object=OuterRef("pk")
        )
    )
    if actor.team is not None:
        granted |= Exists(
            PatientGroupObjectPermission.objects.filter(
                group_id=actor.team.group_id,
                permission_id=permission,
                content_object=OuterRef("pk"),
            )
        )
    return (
        Patient.objects.filter(pk__in=active)
        .filter(granted)
        .annotate(
            objected=Exists(
                Objection.objects.filter(patient=OuterRef("pk"), withdrawn_at__isnull=True)
            )
        )
        .order_by("family_name", "given_names", "pk")
    )


@functools.cache
def _view_record_permission_id() -> int:
    return Permission.objects.get(
        codename=VIEW_RECORD_CODENAME, content_type__app_label="records"
    ).pk
