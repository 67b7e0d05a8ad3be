"""The looks at one patient's record, one row per look, in words people read.

MINIMAL STAND-IN on branch `patients`: the `reports` branch builds the full module (every
filter, refreshes folded into their look, plain-English headings and reasons, PDF/CSV/FHIR); the
lead keeps that one at merge. This gives the same interface, `looks_for_patient(patient,
**filters) -> list[Look]` with the fields of its `Look` that the patients' pages read, and its
wording helpers (when_words, sentence_list), so that care_record/patient_portal.py is written and
tested against it.
"""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.utils import timezone

from access.models import AccessBasis, BreakGlassAccess, Role
from audit.models import DETAILS, AccessEvent, Channel, LookUpdate
from records.categories import Category
from records.models import Patient

# The most looks one report holds here (the full module pages through every one).
MAX_LOOKS = 20_000
BASIS_WORDS = {
    AccessBasis.RELATIONSHIP: "caring for you",
    AccessBasis.BREAK_GLASS: "emergency access",
    AccessBasis.ADMINISTRATION: "arranging who cares for you (your personal details only)",
    AccessBasis.PRIVACY_REVIEW: "checking who has looked at your record (privacy review)",
}
WEB_WORDS = "through the portal"
HEADING_LABELS = {**dict(Category.choices), DETAILS: "Personal details"}
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


@dataclass(frozen=True)
class Look:
    """One look at a patient's record."""

    event_id: int
    occurred_at: datetime.datetime
    professional_name: str
    username: str
    job_role: str
    organisation: str
    headings: list[str] = field(default_factory=list)
    items_shown: int = 0
    basis: str = ""
    emergency_reason: str = ""
    emergency_explanation: str = ""
    channel: str = ""
    user_id: int | None = None
    basis_code: str = ""
    channel_code: str = ""


def looks_for_patient(
    patient: Patient,
    *,
    since: datetime.date | None = None,
    until: datetime.date | None = None,
    **unsupported: object,
) -> list[Look]:
    """The looks at `patient`'s record, newest first, from `since` to `until` (days, both
    included): three queries, whatever their number."""
    if unsupported:
        raise TypeError(f"this stand-in has no filter {', '.join(unsupported)}")
    events = AccessEvent.objects.filter(patient=patient).select_related("user")
    if since is not None:
        events = events.filter(occurred_at__gte=_midnight(since))
    if until is not None:
        events = events.filter(occurred_at__lt=_midnight(until + datetime.timedelta(days=1)))
    events = list(events.order_by("-occurred_at", "-pk")[:MAX_LOOKS])
    later: dict[int, int] = {}
    for look_id, resource_ids in LookUpdate.objects.filter(
        look_id__in=[event.pk for event in events]
    ).values_list("look_id", "resource_ids"):
        later[look_id] = later.get(look_id, 0) + len(resource_ids)
    glass = {
        row[0]: row[1:]
        for row in BreakGlassAccess.objects.filter(
            pk__in={event.break_glass_id for event in events if event.break_glass_id}
        ).values_list("pk", "reason", "explanation")
    }
    roles, reasons = dict(Role.choices), dict(BreakGlassAccess.Reason.choices)
    looks = []
    for event in events:
        code, explanation = glass.get(event.break_glass_id, ("", ""))
        reason = reasons.get(code, code)
        basis = BASIS_WORDS.get(event.basis, event.basis)
        if event.basis == AccessBasis.BREAK_GLASS:
            basis += f": {first_lower(reason)}" + (
                f", \u2018{explanation}\u2019" if explanation else ""
            )
        name = event.user.get_full_name().strip() if event.user else ""
        if event.channel == Channel.API:
            name = event.end_user or "a partner system"
        looks.append(
            Look(
                event_id=event.pk,
                occurred_at=event.occurred_at,
                professional_name=name or event.username,
                username=event.username,
                job_role=roles.get(event.role, event.role),
                organisation=event.team_name,
                headings=[HEADING_LABELS.get(code, code) for code in event.categories],
                items_shown=len(event.resource_ids) + later.get(event.pk, 0),
                basis=basis,
                emergency_reason=reason,
                emergency_explanation=explanation,
                channel="through a partner system" if event.channel == Channel.API else WEB_WORDS,
                user_id=event.user_id,
                basis_code=event.basis,
                channel_code=event.channel,
            )
        )
    return looks


def _midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))


def day_words(day: datetime.date) -> str:
    """A date as NHS.UK writes it: '3 December 2026'."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def time_words(moment: datetime.datetime) -> str:
    """A time as NHS.UK writes it: '2:30pm', '9am', 'midday', 'midnight'."""
    if (moment.hour, moment.minute) == (12, 0):
        return "midday"
    if (moment.hour, moment.minute) == (0, 0):
        return "midnight"
    hour, suffix = moment.hour % 12 or 12, "am" if moment.hour < 12 else "pm"
    return f"{hour}{suffix}" if moment.minute == 0 else f"{hour}:{moment.minute:02d}{suffix}"


def when_words(moment: datetime.datetime) -> str:
    """'3 December 2026 at 2:30pm', in local time."""
    local = timezone.localtime(moment)
    return f"{day_words(local.date())} at {time_words(local)}"


def first_lower(text: str) -> str:
    """'Emergency treatment' -> 'emergency treatment' (an initialism like 'A&E' stays)."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def sentence_list(labels: Iterable[str]) -> str:
    """['Personal details', 'Medicines'] -> 'Personal details and medicines'."""
    words = [label if n == 0 else first_lower(label) for n, label in enumerate(labels)]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"
