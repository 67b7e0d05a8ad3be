"""Reads of the audit trail for people: a patient's access report, open looks, the recently
viewed. Each is a bounded query whatever the size of the trail. The privacy officers' queue and
alerts are in audit.review_selectors (re-exported here).
"""

import datetime
from dataclasses import dataclass

from django.db.models import Max, QuerySet
from django.utils import timezone

from access.policy import Actor
from access.selectors import MOST_FOUND, PatientQuery, best_matches, still_mine
from audit.models import AccessEvent
from audit.review_selectors import alerts, break_glass_queue
from audit.trail_dates import after, start_of
from records.models import Patient
from records.selectors import records_of_the_same_person

RECENT_DAYS = 30
CHOICES_FROM = 2000  # the newest looks whose organisations and people a report offers as filters
# People born on one day, at London scale about 300: read whole, their names compared in Python.
FINDER_ROWS = 2000


def access_report(
    patient: Patient,
    *,
    since: datetime.date | None = None,
    until: datetime.date | None = None,
    organisation: str = "",
    user_id: int | None = None,
    basis: str = "",
    channel: str = "",
) -> QuerySet[AccessEvent]:
    """The looks at one patient's record, newest first, narrowed by the report's filters: from
    the day `since` to the day `until` (both included, London days), by one organisation (ODS
    code), one user, one basis (AccessBasis), one channel (Channel). Through the (patient,
    occurred_at) index; the user's name comes in the same query."""
    # With the records merged into this one: their looks are this person's too.
    events = AccessEvent.objects.filter(patient_id__in=records_of_the_same_person(patient))
    if since is not None:
        events = events.filter(occurred_at__gte=start_of(since))
    if until is not None:
        events = events.filter(occurred_at__lt=after(until))
    if organisation:
        events = events.filter(organisation_ods_code=organisation)
    if user_id is not None:
        events = events.filter(user_id=user_id)
    if basis:
        events = events.filter(basis=basis)
    if channel:
        events = events.filter(channel=channel)
    return events.select_related("user").order_by("-occurred_at", "-pk")


def report_choices(patient: Patient) -> tuple[list[tuple[str, str]], list[tuple[int, str]]]:
    """The organisations (ODS code, team names) and the people (id, name) of this patient's
    newest CHOICES_FROM looks, for the report's filters: one read of the newest events by their
    (patient, occurred_at) index, however long the trail (a DISTINCT over a much-looked-at
    person's 20,000 looks cost 150 ms a page). Anyone older can still be filtered by."""
    organisations: dict[str, set[str]] = {}
    named: dict[int, str] = {}
    rows = (
        AccessEvent.objects.filter(patient_id__in=records_of_the_same_person(patient))
        .order_by("-occurred_at", "-pk")
        .values_list(
            "organisation_ods_code", "team_name", "user_id", "user__first_name",
            "user__last_name", "username",
        )[:CHOICES_FROM]
    )  # fmt: skip
    for code, team, pk, first, last, username in rows:
        if code:
            organisations.setdefault(code, set()).add(team)
        if pk is not None:
            named.setdefault(pk, f"{f'{first} {last}'.strip() or username} ({username})")
    return (
        sorted(((code, ", ".join(sorted(names))) for code, names in organisations.items()),
               key=lambda pair: pair[1]),
        sorted(named.items(), key=lambda pair: pair[1].lower()),
    )  # fmt: skip


def find_patients_for_report(query: PatientQuery) -> list[Patient]:
    """Anyone on the register (not merged away) matching a privacy officer's search: by NHS
    number, or by date of birth narrowed to a name alike (the register's index on the date of
    birth, then names compared as the clinical search compares them). Best match first."""
    current = Patient.objects.current()
    if query.nhs_number:
        return list(current.filter(nhs_number=query.nhs_number))
    if query.birth_date is None or not query.family_name:
        return []
    born = list(current.filter(birth_date=query.birth_date)[:FINDER_ROWS])
    return best_matches(query, born)[:MOST_FOUND]


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
