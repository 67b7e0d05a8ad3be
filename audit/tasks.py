"""Periodic task of the audit trail: keep next months' access event partitions ready."""

from celery import shared_task

from audit.partitions import ensure_partitions


@shared_task(acks_late=True, time_limit=300)
def add_audit_partitions() -> list[str]:
    return ensure_partitions()
