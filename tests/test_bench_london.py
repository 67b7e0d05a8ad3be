"""The London benchmark's own sizes and counting (its timings are read by people, not here)."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from benchmarks import postgres
from benchmarks.london_data import CachedRecords, Sizes

ON_POSTGRES = connection.vendor == "postgresql"
HEADINGS = 11


def test_the_snapshot_cache_holds_every_patient_of_a_peak_hour_at_the_scale():
    london = CachedRecords.at(1, Sizes.at(1), HEADINGS)

    assert london.patients == 26_000
    # Three sources each and the most looked-at patient five: every heading of each.
    assert london.snapshots == (26_000 * 3 + 2) * HEADINGS
    assert CachedRecords.at(0.01, Sizes.at(0.01), HEADINGS).patients == 260
    # Never fewer than the busy team, whose patients the benchmark reads in turn.
    tiny = Sizes.at(0.001)
    assert CachedRecords.at(0.001, tiny, HEADINGS).patients == tiny.busy == 50


@pytest.mark.django_db(transaction=True)
def test_statements_are_counted_on_the_wire_with_those_djangos_query_log_misses():
    def work() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        # As Django's connection health check runs its SELECT 1: on the driver's own connection.
        connection.connection.execute("SELECT 1")

    connection.ensure_connection()
    with CaptureQueriesContext(connection) as logged:
        counted = postgres.count_statements(work)

    if ON_POSTGRES:
        assert [q["sql"] for q in logged.captured_queries] == ["BEGIN", "SELECT 1", "COMMIT"]
        assert counted == 4
    else:  # no wire to read
        assert counted == 0
