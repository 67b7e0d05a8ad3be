"""Read queries of access control, bounded whatever the number of patients or relationships."""

import datetime
import functools
from dataclasses import dataclass

from django.contrib.auth.models import Permission
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from access.models import (
    VIEW_RECORD_CODENAME,
    BreakGlassAccess,
    CareRelationship,
    Objection,
    PatientGroupObjectPermission,
    PatientUserObjectPermission,
)
from access.policy import Actor, sees_records
from records.matching import given_name_similarity, name_similarity, normalise_postcode
from records.models import Patient

MOST_FOUND = 20
NAMES_ALIKE = 0.85  # Jaro-Winkler: "Smyth" finds "Smith", "Okafor" finds "Okafur"


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


@dataclass(frozen=True)
class PatientQuery:
    """What a professional typed to find someone: an NHS number, or a name and date of birth."""

    nhs_number: str = ""
    family_name: str = ""
    given_name: str = ""
    birth_date: datetime.date | None = None
    postcode: str = ""

    def __str__(self) -> str:
        if self.nhs_number:
            return self.nhs_number
        parts = [self.given_name, self.family_name, f"born {self.birth_date}", self.postcode]
        return " ".join(part for part in parts if part)


def find_my_patients(actor: Actor, query: PatientQuery) -> list[Patient]:
    """Patients matching the query among those the actor may see now: through a care
    relationship, or their own emergency access that has not ended. Best match first.

    A name search needs the date of birth: it narrows the register by an indexed equality before
    names are compared, so it costs the same whatever the register's size, and it tells two
    people of the same name apart.
    """
    mine = my_patients(actor).order_by()
    emergency = Patient.objects.filter(
        pk__in=BreakGlassAccess.objects.filter(
            user_id=actor.user.pk, expires_at__gt=timezone.now()
        ).values("patient_id")
    )
    if not sees_records(actor):
        emergency = Patient.objects.none()
    if query.nhs_number:
        narrow = Q(nhs_number=query.nhs_number)
    elif query.birth_date:
        narrow = Q(birth_date=query.birth_date)
        if query.postcode:
            narrow &= Q(postcode=normalise_postcode(query.postcode))
    else:
        return []
    narrow &= Q(merged_into__isnull=True)
    seen: dict[int, Patient] = {}
    for patient in [*mine.filter(narrow)[:500], *emergency.filter(narrow)[:MOST_FOUND]]:
        seen.setdefault(patient.pk, patient)
    found = list(seen.values())
    if not query.nhs_number:
        found = [p for p in found if _alike(query, p)]
        found.sort(key=lambda p: -_likeness(query, p))
    return found[:MOST_FOUND]


def _likeness(query: PatientQuery, patient: Patient) -> float:
    family = name_similarity(query.family_name, patient.family_name)
    given = given_name_similarity(query.given_name, patient.given_names) if query.given_name else 1
    return family + given


def _alike(query: PatientQuery, patient: Patient) -> bool:
    if name_similarity(query.family_name, patient.family_name) < NAMES_ALIKE:
        return False
    return (
        not query.given_name
        or given_name_similarity(query.given_name, patient.given_names) >= NAMES_ALIKE
    )
