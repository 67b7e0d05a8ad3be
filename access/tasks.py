"""Periodic tasks of access control: start and end relationships on their dates, reconcile,
forget partners' used client assertions and signed-in sessions once they have expired, and
uploaded relationship files once they are no longer kept."""

from celery import shared_task

from access import services
from access.client_assertions import purge_used_client_assertions
from access.importing import purge_expired_uploads
from access.services.sessions import forget_ended_sessions


@shared_task(acks_late=True, time_limit=600)
def start_due_relationships() -> int:
    return services.start_due_relationships()


@shared_task(acks_late=True, time_limit=600)
def end_expired_relationships() -> int:
    return services.end_expired_relationships()


@shared_task(acks_late=True, time_limit=600)
def forget_expired_sign_ins() -> dict[str, int]:
    """Used assertion ids past their expiry, and the rows of sessions that have ended."""
    return {
        "client_assertions": purge_used_client_assertions(),
        "sessions": forget_ended_sessions(),
    }


@shared_task(acks_late=True, time_limit=600)
def forget_expired_imports() -> int:
    """Uploaded relationship files (their bytes and results) kept past their hour."""
    return purge_expired_uploads()


@shared_task(acks_late=True, time_limit=1800)
def reconcile_grants() -> dict[str, int]:
    return services.reconcile_grants()
