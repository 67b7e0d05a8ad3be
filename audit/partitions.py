"""Monthly partitions of the access event table on PostgreSQL.

Hundreds of millions of looks a year: one partition per month keeps each month's indexes small,
lets old months be moved to cheaper storage or detached for archive as a whole, and lets a
patient's access report skip months by their bounds. A default partition catches any row whose
month has no partition yet, so a look is never refused for want of one; a daily task creates
the months ahead so that it stays empty. On SQLite there is one table and nothing to do.
"""

import datetime
import logging

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

TABLE = "audit_accessevent"
DEFAULT_PARTITION = f"{TABLE}_default"
MONTHS_AHEAD = 3


def partition_name(month: datetime.date) -> str:
    return f"{TABLE}_p{month:%Y_%m}"


def month_start(moment: datetime.date | datetime.datetime) -> datetime.date:
    return datetime.date(moment.year, moment.month, 1)


def next_month(month: datetime.date) -> datetime.date:
    return datetime.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [TABLE])
        return cursor.fetchone() is not None


def ensure_partitions(
    today: datetime.date | None = None, months_ahead: int = MONTHS_AHEAD
) -> list[str]:
    """Create this month's partition and the next few; returns the names of those it created.

    Through `audit_add_month_partition` (audit/migrations/0007), which runs as the tables' owner:
    the application's role owns nothing, and only a table's owner may add a partition to it.
    A month whose rows already sit in the default partition cannot be given its own partition
    without moving rows, which the append-only trigger forbids: that month is logged and left in
    the default partition, where its rows stay readable and protected.
    """
    if not is_partitioned():
        return []
    month = month_start(today or timezone.now())
    created = []
    for _ in range(months_ahead + 1):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT audit_add_month_partition(%s)", [month])
                name = cursor.fetchone()[0]
        except DatabaseError:
            logger.error(
                "could not add the audit partition %s: its rows are already in %s",
                partition_name(month),
                DEFAULT_PARTITION,
            )
        else:
            if name is not None:
                created.append(name)
        month = next_month(month)
    return created


def partition_of(event_id: int) -> str:
    """Which partition holds an access event (for tests and for people checking the archive)."""
    if not is_partitioned():
        return TABLE
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [event_id])  # noqa: S608
        return cursor.fetchone()[0]
