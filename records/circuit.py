"""Per-source circuit breaker: after repeated failures a source is paused for a cool-down.

A paused source is reported as unavailable at once instead of being asked again; the first request
after the cool-down is a trial, whose success closes the circuit and whose failure reopens it.
"""

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from records.models import SourceCircuit


def paused_until(source_id: int) -> datetime.datetime | None:
    """When the source may be asked again, or None if it may be asked now."""
    circuit = SourceCircuit.objects.filter(source_id=source_id)
    open_until = circuit.values_list("open_until", flat=True).first()
    if open_until is not None and open_until > timezone.now():
        return open_until
    return None


@transaction.atomic
def record_failure(source_id: int, reason: str) -> datetime.datetime | None:
    """Count one failed attempt; return when the circuit opened until, if it opened now."""
    circuit, _ = SourceCircuit.objects.select_for_update().get_or_create(source_id=source_id)
    now = timezone.now()
    circuit.consecutive_failures += 1
    circuit.last_failure_reason = reason[:300]
    circuit.last_failure_at = now
    opened = None
    if circuit.consecutive_failures >= settings.LCR_CIRCUIT_FAILURES:
        opened = now + datetime.timedelta(seconds=settings.LCR_CIRCUIT_COOLDOWN_SECONDS)
        circuit.open_until = opened
    circuit.save()
    return opened


def record_success(source_id: int) -> None:
    """The source answered: forget its failures and close the circuit."""
    now = timezone.now()
    updated = SourceCircuit.objects.filter(source_id=source_id).update(
        consecutive_failures=0, open_until=None, last_success_at=now
    )
    if not updated:
        SourceCircuit.objects.get_or_create(source_id=source_id, defaults={"last_success_at": now})
