"""The looks at one patient's record, one row per look, in words people read.

MINIMAL STAND-IN on branch `patients`: the `reports` branch builds the full module (every
filter, refreshes folded into their look, plain-English headings and reasons, PDF/CSV/FHIR); the
lead keeps that one at merge. This gives the same interface, `looks_for_patient(patient,
**filters) -> list[Look]` with the fields of its `Look` that the patients' pages read, so that
care_record/patient_portal.py is written and tested against it.
"""

import datetime
from dataclasses import dataclass, field

from django.utils import timezone

from access.models import AccessBasis, BreakGlassAccess, Role
from audit.models import AccessEvent, Channel, LookUpdate
from records.models import Patient

# The most looks one report holds here (the full module pages through every one).
MAX_LOOKS = 20_000


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
    roles, bases, channels = dict(Role.choices), dict(AccessBasis.choices), dict(Channel.choices)
    reasons = dict(BreakGlassAccess.Reason.choices)
    looks = []
    for event in events:
        reason, explanation = glass.get(event.break_glass_id, ("", ""))
        looks.append(
            Look(
                event_id=event.pk,
                occurred_at=event.occurred_at,
                professional_name=(event.user.get_full_name() if event.user else "")
                or event.end_user,
                username=event.username,
                job_role=roles.get(event.role, event.role),
                organisation=event.team_name,
                headings=event.category_labels,
                items_shown=len(event.resource_ids) + later.get(event.pk, 0),
                basis=bases.get(event.basis, event.basis),
                emergency_reason=reasons.get(reason, reason),
                emergency_explanation=explanation,
                channel=channels.get(event.channel, event.channel),
                user_id=event.user_id,
                basis_code=event.basis,
            )
        )
    return looks


def _midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))
