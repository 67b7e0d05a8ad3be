"""Reads of the audit trail for people: a patient's access report, open looks, the recently
viewed. Each is a bounded query whatever the size of the trail. The privacy officers' queue and
alerts are in audit.review_selectors (re-exported here).
"""

import datetime
from dataclasses import dataclass

from django.db.models import Max, QuerySet
from django.utils import timezone

from access.policy import Actor
from access.selectors import still_mine
from audit.models import AccessEvent
from audit.review_selectors import alerts, break_glass_queue
from records.models import Patient

RECENT_DAYS = 30


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


__all__ = ["access_report", "alerts", "break_glass_queue", "look_is_open", "recently_viewed"]
