"""Reads of the audit trail for people: a patient's access report, the privacy officers' queue
and its alerts. Each is a bounded query whatever the size of the trail.
"""

import datetime
from dataclasses import dataclass

from django.db.models import Count, F, Max, QuerySet
from django.utils import timezone

from access.models import AccessBasis, BreakGlassAccess
from access.policy import Actor
from access.selectors import still_mine
from audit.models import AccessEvent
from records.models import Patient

OUT_OF_HOURS = (datetime.time(20, 0), datetime.time(7, 0))
RECENT_DAYS = 30
MANY_EMERGENCY_ACCESSES = 3


def access_report(patient: Patient) -> QuerySet[AccessEvent]:
    """Every look at one patient's record, newest first (for a subject access request)."""
    return AccessEvent.objects.filter(patient=patient).order_by("-occurred_at", "-pk")


def look_is_open(*, look_id: int, actor: Actor, patient: Patient, opened_after) -> bool:
    """Whether this access event is this actor's own look at this patient, in the team they act
    for now, begun after `opened_after`: only such a look may receive updates without a new
    event."""
    if not 0 < look_id < 2**63:  # no event has such an id (a database would refuse to look)
        return False
    return AccessEvent.objects.filter(
        pk=look_id,
        patient=patient,
        user_id=actor.user.pk,
        client_id=actor.client_id or "",
        team_id=actor.team.pk if actor.team else None,
        occurred_at__gte=opened_after,
    ).exists()


@dataclass(frozen=True)
class RecentlyViewed:
    patient: Patient
    viewed_at: datetime.datetime


def recently_viewed(actor: Actor, limit: int = 10) -> list[RecentlyViewed]:
    """The last patients this user looked at (their own access events of the last RECENT_DAYS,
    newest first, each patient once), leaving out anyone they may no longer see: the team's
    relationship has ended, or the emergency access has run out. Two queries, whatever the
    size of the trail (the events through the (user, occurred_at) index)."""
    since = timezone.now() - datetime.timedelta(days=RECENT_DAYS)
    latest = list(
        AccessEvent.objects.filter(user_id=actor.user.pk, occurred_at__gte=since)
        .values("patient_id")
        .annotate(viewed_at=Max("occurred_at"))
        .order_by("-viewed_at")[: limit * 2]
    )
    ids = [row["patient_id"] for row in latest]
    visible = {patient.pk: patient for patient in still_mine(actor, ids)}
    return [
        RecentlyViewed(patient=visible[row["patient_id"]], viewed_at=row["viewed_at"])
        for row in latest
        if row["patient_id"] in visible
    ][:limit]


def break_glass_queue() -> QuerySet[BreakGlassAccess]:
    return (
        BreakGlassAccess.objects.filter(review=BreakGlassAccess.Review.PENDING)
        .select_related("user", "team")
        .order_by("started_at")
    )


def alerts(since: datetime.datetime | None = None) -> list[str]:
    """Simple signs worth a privacy officer's look, from the last week of the trail."""
    since = since or timezone.now() - datetime.timedelta(days=7)
    found = []
    heavy = (
        BreakGlassAccess.objects.filter(started_at__gte=since)
        .values("user__username")
        .annotate(uses=Count("pk"))
        .filter(uses__gte=MANY_EMERGENCY_ACCESSES)
        .order_by("-uses")[:20]
    )
    for row in heavy:
        found.append(
            f"{row['user__username']} used emergency access {row['uses']} times in the last week."
        )
    namesakes = (
        AccessEvent.objects.filter(
            occurred_at__gte=since, user__last_name__iexact=F("patient__family_name")
        )
        .values("username", "patient__family_name")
        .distinct()[:20]
    )
    for row in namesakes:
        found.append(
            f"{row['username']} looked at the record of someone with their own surname "
            f"({row['patient__family_name']})."
        )
    neighbours = (
        AccessEvent.objects.filter(
            occurred_at__gte=since, user__staff_profile__home_postcode=F("patient__postcode")
        )
        .exclude(patient__postcode="")
        .values("username", "patient__family_name", "user__last_name")
        .distinct()[:20]
    )
    for row in neighbours:
        who = (
            "someone with their own surname"
            if row["user__last_name"].lower() == row["patient__family_name"].lower()
            else "someone"
        )
        found.append(
            f"{row['username']} looked at the record of {who} living at their own postcode "
            f"({row['patient__family_name']})."
        )
    evening, morning = OUT_OF_HOURS
    late = (
        AccessEvent.objects.filter(occurred_at__gte=since, basis=AccessBasis.RELATIONSHIP)
        .exclude(occurred_at__time__range=(morning, evening))
        .values("username")
        .annotate(looks=Count("pk"))
        .order_by("-looks")[:20]
    )
    for row in late:
        found.append(f"{row['username']} looked at {row['looks']} record(s) out of hours.")
    return found
