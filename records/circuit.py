"""Per-source circuit breaker: after repeated failures a source is paused for a cool-down.

A paused source is reported as unavailable at once instead of being asked again. After the
cool-down exactly one attempt is let through as a trial; its success closes the circuit and its
failure reopens it. A source's own Retry-After beyond what we would wait pauses it the same way.
"""

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from records.models import SourceCircuit


def paused_until(source_id: int) -> datetime.datetime | None:
    """When the source may be asked again, or None if this caller may ask it now.

    After a cool-down, the first caller claims the trial and gets None; the others are told to
    wait until the trial's own time budget has run out.
    """
    now = timezone.now()
    circuit = SourceCircuit.objects.filter(source_id=source_id).first()
    if circuit is None or circuit.open_until is None:
        return None
    if circuit.open_until > now:
        return circuit.open_until
    trial_budget = datetime.timedelta(seconds=settings.LCR_FETCH_SOURCE_BUDGET_SECONDS)
    claimed = (
        SourceCircuit.objects.filter(pk=circuit.pk, open_until__lte=now)
        .filter(Q(trial_started_at__isnull=True) | Q(trial_started_at__lt=now - trial_budget))
        .update(trial_started_at=now)
    )
    if claimed:
        return None
    return (circuit.trial_started_at or now) + trial_budget


def paused_among(source_ids: set[int]) -> set[int]:
    """Which of these sources are in their cool-down (without claiming a trial); one query."""
    if not source_ids:
        return set()
    return set(
        SourceCircuit.objects.filter(
            source_id__in=source_ids, open_until__gt=timezone.now()
        ).values_list("source_id", flat=True)
    )


@transaction.atomic
def record_failure(source_id: int, reason: str) -> datetime.datetime | None:
    """Count one failed attempt; return the time the circuit is open until, if it is open now."""
    circuit, _ = SourceCircuit.objects.select_for_update().get_or_create(source_id=source_id)
    now = timezone.now()
    circuit.consecutive_failures += 1
    circuit.last_failure_reason = reason[:300]
    circuit.last_failure_at = now
    was_trial = circuit.trial_started_at is not None
    if was_trial or circuit.consecutive_failures >= settings.LCR_CIRCUIT_FAILURES:
        cooldown = datetime.timedelta(seconds=settings.LCR_CIRCUIT_COOLDOWN_SECONDS)
        circuit.opened_at, circuit.open_until = now, now + cooldown
        circuit.trial_started_at = None
    circuit.save()
    return circuit.open_until if circuit.open_until and circuit.open_until > now else None


@transaction.atomic
def pause(source_id: int, until: datetime.datetime, reason: str) -> None:
    """The source asked us to wait (Retry-After) longer than a task should: every task waits."""
    circuit, _ = SourceCircuit.objects.select_for_update().get_or_create(source_id=source_id)
    now = timezone.now()
    circuit.last_failure_reason, circuit.last_failure_at = reason[:300], now
    circuit.opened_at, circuit.trial_started_at = now, None
    circuit.open_until = max(until, circuit.open_until or until)
    circuit.save()


def record_success(source_id: int, *, attempt_started_at: datetime.datetime) -> None:
    """The source answered: forget its failures and close the circuit, unless this attempt began
    before the circuit last opened (a slow old answer says nothing about the source now)."""
    now = timezone.now()
    updated = (
        SourceCircuit.objects.filter(source_id=source_id)
        .filter(Q(opened_at__isnull=True) | Q(opened_at__lte=attempt_started_at))
        .update(
            consecutive_failures=0,
            open_until=None,
            opened_at=None,
            trial_started_at=None,
            last_success_at=now,
        )
    )
    if not updated:
        SourceCircuit.objects.get_or_create(source_id=source_id, defaults={"last_success_at": now})
