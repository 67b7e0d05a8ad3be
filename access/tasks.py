"""Periodic tasks of access control: start and end relationships on their dates, reconcile."""

from celery import shared_task

from access import services


@shared_task(acks_late=True, time_limit=600)
def start_due_relationships() -> int:
    return services.start_due_relationships()


@shared_task(acks_late=True, time_limit=600)
def end_expired_relationships() -> int:
    return services.end_expired_relationships()


@shared_task(acks_late=True, time_limit=1800)
def reconcile_grants() -> dict[str, int]:
    return services.reconcile_grants()
