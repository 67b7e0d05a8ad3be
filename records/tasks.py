"""Celery tasks of the identity register: thin wrappers taking ids, safe to run twice."""

from celery import group, shared_task

from records.identity_sync import sync_source_identities
from records.models import SourceSystem
from records.sources.errors import SourceUnavailable


@shared_task(
    acks_late=True,
    time_limit=600,
    soft_time_limit=540,
    autoretry_for=(SourceUnavailable,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=3,
)
def sync_identities(source_id: int) -> int:
    """Read one source's Patient resources; a source that is down is tried again with backoff."""
    return sync_source_identities(source_id=source_id).pk


@shared_task(acks_late=True, time_limit=60)
def sync_all_identities() -> int:
    """Fan out one identity sync per enabled source, in parallel; returns how many were sent."""
    source_ids = list(SourceSystem.objects.filter(enabled=True).values_list("pk", flat=True))
    group(sync_identities.s(source_id) for source_id in source_ids).apply_async()
    return len(source_ids)
