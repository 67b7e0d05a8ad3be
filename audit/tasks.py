"""Periodic tasks of the audit trail: keep next months' access event partitions ready, and sign
the chain heads that have moved."""

from celery import shared_task

from audit.checkpoints import sign_checkpoints
from audit.partitions import ensure_partitions


@shared_task(acks_late=True, time_limit=300)
def add_audit_partitions() -> list[str]:
    return ensure_partitions()


@shared_task(acks_late=True, time_limit=60)
def sign_audit_checkpoints() -> int:
    return len(sign_checkpoints())
