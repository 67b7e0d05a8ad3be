"""Access events partitioned by month on PostgreSQL; one plain table on SQLite."""

import datetime

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction

from audit.partitions import ensure_partitions, is_partitioned, partition_name, partition_of
from tests.factories import PatientFactory, UserFactory, a_look

pytestmark = pytest.mark.django_db
ON_POSTGRES = connection.vendor == "postgresql"


def test_a_look_lands_in_the_partition_of_its_month():
    event = a_look(PatientFactory(), UserFactory())

    if ON_POSTGRES:
        assert is_partitioned()
        partition = partition_of(event.pk)
        assert partition == partition_name(event.occurred_at.date())
        for sql in (
            f"UPDATE {partition} SET username = 'x' WHERE id = %s",  # noqa: S608
            f"DELETE FROM {partition} WHERE id = %s",  # noqa: S608
        ):  # the application may not touch a partition at all (the owner's triggers: elsewhere)
            with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
                connection.cursor().execute(sql, [event.pk])
    else:
        assert not is_partitioned()
        assert partition_of(event.pk) == "audit_accessevent"


def test_the_daily_task_adds_the_coming_months_once():
    created = ensure_partitions(today=datetime.date(2031, 11, 17), months_ahead=2)

    if ON_POSTGRES:
        assert created == [
            "audit_accessevent_p2031_11",
            "audit_accessevent_p2031_12",
            "audit_accessevent_p2032_01",
        ]
        assert ensure_partitions(today=datetime.date(2031, 11, 17), months_ahead=2) == []
        with time_machine.travel(datetime.datetime(2031, 12, 31, 23, 59, tzinfo=datetime.UTC)):
            event = a_look(PatientFactory(), UserFactory())
        assert partition_of(event.pk) == "audit_accessevent_p2031_12"
    else:
        assert created == []


def test_a_look_in_a_month_without_a_partition_is_kept_in_the_default_one(caplog):
    with time_machine.travel(datetime.datetime(2040, 5, 2, 8, 0, tzinfo=datetime.UTC)):
        event = a_look(PatientFactory(), UserFactory())

    if not ON_POSTGRES:
        assert partition_of(event.pk) == "audit_accessevent"
        return
    assert partition_of(event.pk) == "audit_accessevent_default"
    created = ensure_partitions(today=datetime.date(2040, 5, 1), months_ahead=1)
    assert created == ["audit_accessevent_p2040_06"]  # May's rows stay where they are
    assert "audit_accessevent_p2040_05" in caplog.text
    assert partition_of(event.pk) == "audit_accessevent_default"
