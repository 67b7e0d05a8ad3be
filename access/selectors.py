"""Read queries of access control, bounded whatever the number of patients or relationships."""

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from access.models import (
    CareRelationship,
    Objection,
    PatientGroupObjectPermission,
    PatientUserObjectPermission,
)
from access.policy import Actor
from access.services import VIEW_RECORD_CODENAME
from records.models import Patient


def my_patients(actor: Actor) -> QuerySet[Patient]:
    """Patients the actor's team (or the actor) cares for today, with the guardian grant in place.

    One query, driven by the team's grants (indexed), whatever the size of the register.
    """
    today = timezone.localdate()
    relationships = (
        CareRelationship.objects.filter(
            patient=OuterRef("pk"), ended_at__isnull=True, starts_on__lte=today
        )
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=today))
        .filter(Q(team_id=actor.team.pk if actor.team else None) | Q(user_id=actor.user.pk))
    )
    granted = Q(
        pk__in=PatientUserObjectPermission.objects.filter(
            user_id=actor.user.pk, permission__codename=VIEW_RECORD_CODENAME
        ).values("content_object_id")
    )
    if actor.team is not None:
        granted |= Q(
            pk__in=PatientGroupObjectPermission.objects.filter(
                group_id=actor.team.group_id, permission__codename=VIEW_RECORD_CODENAME
            ).values("content_object_id")
        )
    return (
        Patient.objects.filter(granted)
        .filter(Exists(relationships))
        .annotate(
            objected=Exists(
                Objection.objects.filter(patient=OuterRef("pk"), withdrawn_at__isnull=True)
            )
        )
        .order_by("family_name", "given_names", "pk")
    )
