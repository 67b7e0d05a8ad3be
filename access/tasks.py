"""Periodic tasks of access control: start and end relationships on their dates, reconcile,
forget partners' used client assertions once they expire."""

from celery import shared_task

from access import services
from access.client_assertions import purge_used_client_assertions


@shared_task(acks_late=True, time_limit=600)
def start_due_relationships() -> int:
    return services.start_due_relationships()


@shared_task(acks_late=True, time_limit=600)
def end_expired_relationships() -> int:
    # The same five-minute sweep forgets partners' used assertion ids past their expiry (no
    # beat entry of their own: they are as much an expiry as a relationship's end date).
    purge_used_client_assertions()
    return services.end_expired_relationships()


@shared_task(acks_late=True, time_limit=1800)
def reconcile_grants() -> dict[str, int]:
    return services.reconcile_grants()
