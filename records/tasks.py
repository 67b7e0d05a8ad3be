"""Celery tasks of the identity register: thin wrappers taking ids, safe to run twice."""

from celery import Task, group, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from records import fetching
from records.fetching import fail_pending, fetch_link
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


@shared_task(bind=True, acks_late=True, max_retries=None)
def fetch_source_record(self: Task, link_id: int, categories: list[str]) -> list[str]:
    """Fetch categories of one linked record from its source; retry what the source could not give.

    Retries back off exponentially and never sooner than the source's Retry-After. Saving is an
    upsert per category, so a redelivered or repeated task changes nothing twice.
    """
    final = self.request.retries >= settings.LCR_FETCH_MAX_RETRIES
    try:
        outcome = fetch_link(link_id=link_id, categories=categories, final_attempt=final)
    except SoftTimeLimitExceeded:
        fail_pending(link_id=link_id, categories=categories, reason="source unavailable: timed out")
        raise
    if outcome.should_retry:
        backoff = min(
            settings.LCR_FETCH_RETRY_BACKOFF_SECONDS * 2**self.request.retries,
            settings.LCR_FETCH_RETRY_BACKOFF_MAX_SECONDS,
        )
        raise self.retry(
            args=(link_id, outcome.remaining),
            countdown=max(backoff, outcome.retry_after or 0),
            max_retries=settings.LCR_FETCH_MAX_RETRIES,
        )
    return outcome.fresh


@shared_task(acks_late=True, time_limit=300)
def purge_expired_snapshots() -> int:
    """Periodic: drop snapshots past their time to live."""
    return fetching.purge_expired_snapshots()
