"""Reads for the privacy officers' reviews: the emergency-access queue (filtered), one access with
every review of it, the alerts of the last week and the looks behind each. Every read is bounded
whatever the size of the trail: looks are read one professional at a time, through the (user,
occurred_at) index, a page at a time.
"""

import datetime
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import ExtractHour
from django.utils import timezone

from access.models import AccessBasis, BreakGlassAccess, BreakGlassReview
from audit.models import AccessEvent
from audit.trail_dates import after, start_of

EVENING_TO_MORNING = (datetime.time(20, 0), datetime.time(7, 0))  # out of hours
ALERT_DAYS = 7
MANY_EMERGENCY_ACCESSES = 3
ALERTS_OF_A_KIND = 20
# The longest period an alert's evidence is read for: a quarter, through one user's index range.
LONGEST_PERIOD_DAYS = 92

Review = BreakGlassAccess.Review


class QueueState(models.TextChoices):
    """Which emergency accesses the queue shows, by where their review stands."""

    PENDING = "pending", "Waiting for review"
    FLAGGED = "flagged", "Under investigation"
    REVIEWED = "reviewed", "Reviewed"
    ALL = "all", "All"


STATES_SHOWN = {
    QueueState.PENDING: (Review.PENDING,),
    QueueState.FLAGGED: (Review.FLAGGED,),
    QueueState.REVIEWED: (Review.APPROVED, Review.CLEARED, Review.CONFIRMED),
}


@dataclass(frozen=True)
class QueueFilter:
    """What the privacy officer narrows the queue to; empty fields narrow nothing."""

    state: str = QueueState.PENDING
    started_from: datetime.date | None = None
    started_to: datetime.date | None = None
    organisation: str = ""  # an ODS code, or part of a team's name
    user: str = ""  # a username, or part of a professional's name
    reason: str = ""


def break_glass_queue(filters: QueueFilter | None = None) -> QuerySet[BreakGlassAccess]:
    """Emergency accesses matching `filters` (by default those waiting for review): waiting ones
    oldest first, as a queue is worked; the others newest first."""
    filters = filters or QueueFilter()
    accesses = BreakGlassAccess.objects.select_related("user", "team", "reviewed_by")
    if filters.state in STATES_SHOWN:
        accesses = accesses.filter(review__in=STATES_SHOWN[filters.state])
    if filters.started_from:
        accesses = accesses.filter(started_at__gte=start_of(filters.started_from))
    if filters.started_to:
        accesses = accesses.filter(started_at__lt=after(filters.started_to))
    if filters.organisation:
        accesses = accesses.filter(
            Q(team__ods_code__iexact=filters.organisation)
            | Q(team__name__icontains=filters.organisation)
        )
    if filters.user:
        accesses = accesses.filter(
            Q(user__username__iexact=filters.user)
            | Q(user__first_name__icontains=filters.user)
            | Q(user__last_name__icontains=filters.user)
        )
    if filters.reason:
        accesses = accesses.filter(reason=filters.reason)
    if filters.state == QueueState.PENDING:
        return accesses.order_by("started_at", "pk")
    return accesses.order_by("-started_at", "-pk")


def break_glass_with_reviews(access_id: int) -> tuple[BreakGlassAccess, list[BreakGlassReview]]:
    """One emergency access with who used it, and every review of it, oldest first (two
    queries). Raises BreakGlassAccess.DoesNotExist."""
    access = BreakGlassAccess.objects.select_related("user", "team", "reviewed_by").get(
        pk=access_id
    )
    reviews = list(access.reviews.select_related("reviewed_by").order_by("reviewed_at", "pk"))
    return access, reviews


EMERGENCY_ACCESSES_SHOWN = 50


def emergency_accesses_to(
    patient_id: int, *, limit: int = EMERGENCY_ACCESSES_SHOWN
) -> list[BreakGlassAccess]:
    """The emergency accesses to one patient's record, newest first, each with who used it and
    its reviews (oldest first, with their reviewers) in `access.history`: two queries."""
    reviews = models.Prefetch(
        "reviews",
        queryset=BreakGlassReview.objects.select_related("reviewed_by").order_by(
            "reviewed_at", "pk"
        ),
        to_attr="history",
    )
    return list(
        BreakGlassAccess.objects.filter(patient_id=patient_id)
        .select_related("user", "team")
        .prefetch_related(reviews)
        .order_by("-started_at", "-pk")[:limit]
    )


def looks_under(access: BreakGlassAccess, *, limit: int) -> list[AccessEvent]:
    """The looks made under this emergency access, oldest first (through the patient's index:
    none can be older than the access)."""
    return list(
        AccessEvent.objects.filter(
            patient_id=access.patient_id,
            occurred_at__gte=access.started_at,
            break_glass_id=access.pk,
        ).order_by("occurred_at", "pk")[:limit]
    )


@dataclass(frozen=True)
class Period:
    """Whole local days, first and last included."""

    first: datetime.date
    last: datetime.date

    @classmethod
    def last_days(cls, days: int = ALERT_DAYS) -> "Period":
        today = timezone.localdate()
        return cls(first=today - datetime.timedelta(days=days - 1), last=today)

    @property
    def starts(self) -> datetime.datetime:
        return start_of(self.first)

    @property
    def ends(self) -> datetime.datetime:
        """The first moment after the period."""
        return after(self.last)


class AlertKind(models.TextChoices):
    EMERGENCY_ACCESS = "emergency-access", "Used emergency access often"
    SAME_SURNAME = "same-surname", "Looked at records of people with their own surname"
    SAME_POSTCODE = "same-postcode", "Looked at records of people living at their own postcode"
    OUT_OF_HOURS = "out-of-hours", "Looked at records out of hours"


_evening, _morning = EVENING_TO_MORNING
# The looks behind each kind of alert: one definition, for the alert's count and its evidence.
LOOKS_BEHIND = {
    AlertKind.EMERGENCY_ACCESS: Q(basis=AccessBasis.BREAK_GLASS),
    AlertKind.SAME_SURNAME: Q(user__last_name__iexact=F("patient__family_name")),
    AlertKind.SAME_POSTCODE: Q(user__staff_profile__home_postcode=F("patient__postcode"))
    & ~Q(patient__postcode=""),
    AlertKind.OUT_OF_HOURS: Q(basis=AccessBasis.RELATIONSHIP)
    & ~Q(occurred_at__time__range=(_morning, _evening)),
}


@dataclass(frozen=True)
class Alert:
    """A sign worth a privacy officer's look: what kind, about whom, how many, over what days.
    Its evidence (alert_evidence) lists the looks behind it."""

    kind: str
    user_id: int
    full_name: str
    username: str
    count: int
    period: Period

    @property
    def who(self) -> str:
        return f"{self.full_name} ({self.username})" if self.full_name else self.username

    @property
    def text(self) -> str:
        times = f"{self.count} time{'s' if self.count != 1 else ''}"
        return {
            AlertKind.EMERGENCY_ACCESS: f"{self.who} used emergency access {times}.",
            AlertKind.SAME_SURNAME: (
                f"{self.who} looked {times} at the records of people with their own surname."
            ),
            AlertKind.SAME_POSTCODE: (
                f"{self.who} looked {times} at the records of people living at their own postcode."
            ),
            AlertKind.OUT_OF_HOURS: (
                f"{self.who} looked {times} at records out of hours (8pm to 7am)."
            ),
        }[self.kind]

    def __str__(self) -> str:
        return self.text


def alerts(period: Period | None = None) -> list[Alert]:
    """Simple signs worth a privacy officer's look, from the last week of the trail: a user who
    used emergency access MANY_EMERGENCY_ACCESSES times or more, looks at the records of people
    with the user's own surname or living at their own postcode (from the HR record), and looks
    through care relationships out of hours. Four grouped queries, each at most
    ALERTS_OF_A_KIND rows."""
    period = period or Period.last_days()
    who = ("user_id", "user__first_name", "user__last_name", "user__username")
    found = []
    heavy = (
        BreakGlassAccess.objects.filter(started_at__gte=period.starts, started_at__lt=period.ends)
        .values(*who)
        .annotate(count=Count("pk"))
        .filter(count__gte=MANY_EMERGENCY_ACCESSES)
        .order_by("-count", "user_id")[:ALERTS_OF_A_KIND]
    )
    found += [_alert(AlertKind.EMERGENCY_ACCESS, row, period) for row in heavy]
    for kind in (AlertKind.SAME_SURNAME, AlertKind.SAME_POSTCODE, AlertKind.OUT_OF_HOURS):
        rows = (
            AccessEvent.objects.filter(
                LOOKS_BEHIND[kind], occurred_at__gte=period.starts, occurred_at__lt=period.ends
            )
            .exclude(user=None)
            .values(*who)
            .annotate(count=Count("pk"))
            .order_by("-count", "user_id")[:ALERTS_OF_A_KIND]
        )
        found += [_alert(kind, row, period) for row in rows]
    return found


def _alert(kind: str, row: dict, period: Period) -> Alert:
    return Alert(
        kind=kind,
        user_id=row["user_id"],
        full_name=f"{row['user__first_name']} {row['user__last_name']}".strip(),
        username=row["user__username"],
        count=row["count"],
        period=period,
    )


def alert_evidence(*, kind: str, user: AbstractBaseUser, period: Period) -> QuerySet[AccessEvent]:
    """The looks behind an alert of this kind about this professional over these days, newest
    first, with their patients: through the (user, occurred_at) index; page it."""
    return (
        AccessEvent.objects.filter(
            LOOKS_BEHIND[kind],
            user_id=user.pk,
            occurred_at__gte=period.starts,
            occurred_at__lt=period.ends,
        )
        .select_related("patient")
        .order_by("-occurred_at", "-pk")
    )


def looks_by_hour(looks: QuerySet[AccessEvent]) -> list[tuple[int, int]]:
    """(hour of the day in local time, how many looks) for the hours that have any: one
    grouped query over the same rows as the evidence."""
    rows = (
        looks.order_by()
        .annotate(hour=ExtractHour("occurred_at", tzinfo=timezone.get_current_timezone()))
        .values("hour")
        .annotate(looks=Count("pk"))
        .order_by("hour")
    )
    return [(row["hour"], row["looks"]) for row in rows]


def emergency_accesses_by(
    *, user: AbstractBaseUser, period: Period, limit: int = 50
) -> list[BreakGlassAccess]:
    """The emergency accesses this professional started over these days, newest first."""
    return list(
        BreakGlassAccess.objects.filter(
            user_id=user.pk, started_at__gte=period.starts, started_at__lt=period.ends
        )
        .select_related("team")
        .order_by("-started_at", "-pk")[:limit]
    )
