"""Celery tasks of the records app (identity sync, fetching, heartbeats): thin wrappers taking
ids, safe to run twice."""

import logging

from celery import Task, group, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import after_task_publish
from django.conf import settings

from records import deadlines, fetching
from records.fetching import UNEXPECTED, fail_pending, fetch_link, retry_delay
from records.heartbeats import record_heartbeat
from records.identity_sync import sync_source_identities
from records.models import Heartbeat, Patient, SourceSystem
from records.sources.errors import SourceUnavailable

logger = logging.getLogger(__name__)


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


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def sync_all_identities() -> int:
    """Fan out one identity sync per enabled source, in parallel; returns how many were sent."""
    source_ids = list(SourceSystem.objects.filter(enabled=True).values_list("pk", flat=True))
    group(sync_identities.s(source_id) for source_id in source_ids).apply_async()
    return len(source_ids)


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def refresh_patient(patient_id: int, categories: list[str] | None = None) -> list[int]:
    """Fan out one fetch per linked source of the patient, in parallel (see request_refresh)."""
    patient = Patient.objects.filter(pk=patient_id).first()
    if patient is None:
        return []
    return fetching.request_refresh(patient=patient, categories=categories)


@shared_task(bind=True, acks_late=True, time_limit=120, soft_time_limit=100, max_retries=None)
def fetch_source_record(
    self: Task,
    link_id: int,
    categories: list[str],
    token: str | None = None,
    asked_by: dict[str, str] | None = None,
) -> list[str]:
    """Fetch categories of one linked record from its source; retry what the source could not give.

    Retries back off exponentially and never sooner than the source's Retry-After (a wait longer
    than LCR_FETCH_RETRY_AFTER_MAX_SECONDS pauses the source instead). Each save is an upsert
    guarded by the request's token, so a redelivered or overtaken task changes nothing twice.
    Any exception leaves what is still waiting failed with a reason before the task fails.
    """
    final = self.request.retries >= settings.LCR_FETCH_MAX_RETRIES
    try:
        # The lease is renewed while this runs: a pool process killed mid-fetch stops renewing
        # it, and the fetch is asked again within the look's deadline (reclaim_lost_fetches).
        with deadlines.leased(link_id=link_id, categories=categories, token=token):
            outcome = fetch_link(
                link_id=link_id,
                categories=categories,
                final_attempt=final,
                token=token,
                asked_by=asked_by,
                attempt=self.request.retries + 1,
            )
    except SoftTimeLimitExceeded:
        fail_pending(
            link_id=link_id,
            categories=categories,
            token=token,
            reason="source unavailable: timed out",
        )
        raise
    except Exception:
        # Whatever it was (a bug, the database), no category may be left "Refreshing" until the
        # request is overdue: each still waiting says so, and the error goes to the log as ever.
        fail_pending(link_id=link_id, categories=categories, token=token, reason=UNEXPECTED)
        raise
    if outcome.should_retry:
        raise self.retry(
            args=(link_id, outcome.remaining, token, asked_by),
            countdown=retry_delay(self.request.retries, outcome.retry_after),
            max_retries=settings.LCR_FETCH_MAX_RETRIES,
        )
    return outcome.fresh


@shared_task(acks_late=True, time_limit=300)
def purge_expired_snapshots() -> int:
    """Periodic: drop snapshots past their time to live."""
    return fetching.purge_expired_snapshots()


@shared_task(acks_late=True, time_limit=300)
def fail_overdue_fetches() -> int:
    """Periodic: end fetches pending past their deadline with a reason (a lost or killed task)."""
    return fetching.fail_overdue_fetches()


@shared_task(acks_late=True, time_limit=30, soft_time_limit=20)
def reclaim_lost_fetches() -> int:
    """Periodic: ask again, within their deadline, the fetches whose worker stopped renewing
    their lease (killed mid-fetch, or the task was lost)."""
    return fetching.reclaim_lost_fetches()


@shared_task(time_limit=30, soft_time_limit=20)
def heartbeat() -> None:
    """Periodic (sent by beat): a pool process took a task from the queue and could write."""
    record_heartbeat(process=Heartbeat.Process.WORKER)


@after_task_publish.connect
def beat_sent_heartbeat(sender: str | None = None, **kwargs: object) -> None:
    """In beat, the only sender of the heartbeat task: it is alive and reached the broker."""
    if sender != heartbeat.name:
        return
    try:
        record_heartbeat(process=Heartbeat.Process.BEAT)
    except Exception:
        # Beat keeps scheduling; its missing heartbeat makes the readiness check say so.
        logger.exception("beat could not record its heartbeat")
