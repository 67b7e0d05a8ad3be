"""On PostgreSQL, access events move to a table partitioned by month of occurred_at.

PostgreSQL 15 allows no identity column on a partitioned table, so ids come from a sequence
owned by the column; and every unique constraint must include the partition key, so the primary
key is (id, occurred_at) and the chain order is unique per (chain, sequence, occurred_at). The
chain head row, locked for each append, is what keeps a chain's sequence single, and
verify_audit finds any duplicate. Rows already written are copied across in one transaction.
Django still sees `id` as the primary key: ids come from one sequence, so they are unique.
"""

import datetime

from django.db import migrations

from audit.partitions import (
    DEFAULT_PARTITION,
    MONTHS_AHEAD,
    TABLE,
    month_start,
    next_month,
    partition_name,
)

NEW = f"{TABLE}_partitioned"
TRIGGER = """
CREATE TRIGGER audit_access_event_append_only
    BEFORE UPDATE OR DELETE ON audit_accessevent
    FOR EACH ROW EXECUTE FUNCTION audit_access_event_append_only();
"""
CONSTRAINTS = """
CREATE SEQUENCE audit_accessevent_id_seq OWNED BY audit_accessevent.id;
SELECT setval('audit_accessevent_id_seq', COALESCE((SELECT max(id) FROM audit_accessevent), 0) + 1,
              false);
ALTER TABLE audit_accessevent ALTER COLUMN id SET DEFAULT nextval('audit_accessevent_id_seq');
ALTER TABLE audit_accessevent ADD CONSTRAINT audit_accessevent_pkey PRIMARY KEY (id, occurred_at);
ALTER TABLE audit_accessevent ADD CONSTRAINT access_event_chain_order
    UNIQUE (chain, sequence, occurred_at);
ALTER TABLE audit_accessevent ADD CONSTRAINT audit_accessevent_hash_key UNIQUE (hash, occurred_at);
ALTER TABLE audit_accessevent ADD CONSTRAINT audit_accessevent_patient_id_fk
    FOREIGN KEY (patient_id) REFERENCES records_patient (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE audit_accessevent ADD CONSTRAINT audit_accessevent_user_id_fk
    FOREIGN KEY (user_id) REFERENCES auth_user (id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX access_event_patient ON audit_accessevent (patient_id, occurred_at);
CREATE INDEX access_event_user ON audit_accessevent (user_id, occurred_at);
"""


def create_month(cursor, month: datetime.date, parent: str) -> None:
    """One month's partition, bounded in UTC (timestamps are stored as UTC). Later months are
    added by audit_add_month_partition (0007), which also guards each against TRUNCATE."""
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {partition_name(month)} PARTITION OF {parent} "
        f"FOR VALUES FROM ('{month.isoformat()} 00:00:00+00') "
        f"TO ('{next_month(month).isoformat()} 00:00:00+00')"
    )


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {NEW} (LIKE {TABLE} INCLUDING CONSTRAINTS INCLUDING STORAGE) "
            "PARTITION BY RANGE (occurred_at)"
        )
        cursor.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {NEW} DEFAULT")
        cursor.execute(f"SELECT min(occurred_at) FROM {TABLE}")  # noqa: S608
        earliest = cursor.fetchone()[0]
        today = datetime.datetime.now(datetime.UTC)
        month = month_start(min(earliest, today) if earliest else today)
        last = month_start(today)
        for _ in range(MONTHS_AHEAD):
            last = next_month(last)
        while month <= last:
            create_month(cursor, month, parent=NEW)
            month = next_month(month)
        cursor.execute(f"INSERT INTO {NEW} SELECT * FROM {TABLE}")  # noqa: S608
        cursor.execute(f"DROP TABLE {TABLE}")
        cursor.execute(f"ALTER TABLE {NEW} RENAME TO {TABLE}")
        cursor.execute(CONSTRAINTS)
        cursor.execute(TRIGGER)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_access_event_end_user"),
        ("records", "0001_initial"),
    ]
    operations = [migrations.RunPython(partition, migrations.RunPython.noop)]
