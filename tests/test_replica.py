"""A read replica (DATABASE_REPLICA_URL): the searches and the home page read from it; a look
(its record read and its access event), the audit trail, sessions and sign-in never do.

The replica here is the test database itself, through a second connection (TEST MIRROR, set by
tests/conftest.py), so what each connection was asked is what each database would have been.
"""

import re

import pytest
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access import services
from access.models import Role, Team
from audit.models import AccessEvent, SearchEvent
from records import replica as replica_module
from records.models import Patient
from records.replica import REPLICA, ReplicaRouter, reading_from_replica, replica_for_reads
from tests.factories import PatientFactory, UserFactory, make_team, member

pytestmark = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])
WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


@pytest.fixture
def routed(settings):
    """As settings.py installs it when DATABASE_REPLICA_URL is set."""
    settings.DATABASE_ROUTERS = ["records.replica.ReplicaRouter"]


@pytest.fixture
def practice(client, routed):
    """A GP signed in, whose practice cares for Grace Okafor."""
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    gp = member(team, Role.GP, "gp")
    grace = PatientFactory(given_names="Grace", family_name="Okafor")
    services.start_relationship(
        patient=grace, team=team, kind="registered_gp", reason="registered",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    client.force_login(gp)
    return client, grace


def asked(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in queries.captured_queries]


def both_asked(request):
    """What the primary and the replica were asked while `request()` ran, and its answer."""
    with (
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary,
        CaptureQueriesContext(connections[REPLICA]) as replica,
    ):
        response = request()
    return response, asked(primary), asked(replica)


def test_the_home_page_reads_my_patients_from_the_replica(practice):
    client, grace = practice

    response, primary, replica = both_asked(lambda: client.get(reverse("home")))

    assert grace.full_name in response.content.decode()
    # The page's count of the team's relationships and its page of patients.
    assert any("count(DISTINCT" in sql and "access_carerelationship" in sql for sql in replica)
    assert any("JOIN records_patient p" in sql for sql in replica)
    assert not any("access_carerelationship" in sql for sql in primary)
    # Who is signed in is never read from a copy that may lag (an ended session would live on).
    assert not any("django_session" in sql or "auth_user" in sql for sql in replica)
    assert any("django_session" in sql for sql in primary)


def test_a_search_finds_on_the_replica_and_records_itself_on_the_primary(practice):
    client, grace = practice

    response, primary, replica = both_asked(
        lambda: client.get(reverse("patient-search"), {"nhs_number": grace.nhs_number})
    )

    assert "1 patient found" in response.content.decode()
    assert any(grace.nhs_number in sql and "records_patient p" in sql for sql in replica)
    assert not any(WRITES.match(sql) for sql in replica)
    assert any(WRITES.match(sql) and "audit_searchevent" in sql for sql in primary)
    assert SearchEvent.objects.get().found_id == grace.pk


def test_a_look_reads_the_record_and_writes_its_access_event_on_the_primary_only(practice):
    client, grace = practice
    url = reverse("patient-record", kwargs={"patient_id": grace.pk})

    response, primary, replica = both_asked(lambda: client.get(url))

    assert response.status_code == 200 and grace.formatted_nhs_number in response.content.decode()
    assert replica == []
    assert any(WRITES.match(sql) and "audit_accessevent" in sql for sql in primary)
    assert any("records_patient" in sql for sql in primary)
    assert AccessEvent.objects.filter(patient=grace).count() == 1


def test_writes_go_to_the_primary_even_inside_a_replica_block(routed):
    router = ReplicaRouter()
    with reading_from_replica():
        assert router.db_for_read(Patient) == REPLICA
        assert router.db_for_write(Patient) == DEFAULT_DB_ALIAS
        patient = PatientFactory()  # saved, not refused: on the primary
    assert Patient.objects.using(DEFAULT_DB_ALIAS).filter(pk=patient.pk).exists()
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "records") is True
    assert router.allow_migrate(REPLICA, "records") is False


def test_outside_a_replica_block_reads_stay_on_the_primary_even_for_rows_read_from_the_replica(
    routed,
):
    patient = PatientFactory()
    with reading_from_replica():
        found = Patient.objects.get(pk=patient.pk)
    assert found._state.db == REPLICA
    # Django would follow the row's own database for its relations; the router says otherwise.
    assert ReplicaRouter().db_for_read(Patient, instance=found) == DEFAULT_DB_ALIAS


def test_inside_a_transaction_on_the_primary_reads_stay_with_it(routed):
    with transaction.atomic(), reading_from_replica():
        assert replica_for_reads() == DEFAULT_DB_ALIAS
    with reading_from_replica():
        assert replica_for_reads() == REPLICA


def test_without_a_replica_configured_the_block_reads_the_primary(routed, monkeypatch):
    monkeypatch.delitem(connections.settings, REPLICA)
    with reading_from_replica():
        assert replica_for_reads() == DEFAULT_DB_ALIAS


def test_with_a_replica_alias_but_no_router_every_read_stays_on_the_primary(practice, settings):
    """As in every test run (tests/conftest.py adds the alias) or a settings file that names a
    replica without its router: the home page's hand-written statements read where Django's
    own reads do, the primary."""
    settings.DATABASE_ROUTERS = []
    with reading_from_replica():
        assert replica_for_reads() == DEFAULT_DB_ALIAS
    client, grace = practice
    response, _, replica = both_asked(lambda: client.get(reverse("home")))
    assert grace.full_name in response.content.decode()
    assert replica == []


@pytest.fixture
def replica_down():
    """The replica's connection made to fail, as a replica down or refusing would."""
    replica = connections[REPLICA]
    replica.close()
    kept = replica.settings_dict["NAME"]
    if replica.vendor == "sqlite":
        replica.settings_dict["NAME"] = "/nonexistent-directory/replica.sqlite3"
    else:
        replica.settings_dict["NAME"] = "lcr_no_such_replica"
    yield
    replica.close()
    replica.settings_dict["NAME"] = kept
    replica_module._resting_until = 0.0


def test_a_replica_down_leaves_the_home_page_and_search_reading_the_primary(
    practice, replica_down, caplog
):
    client, grace = practice
    home = client.get(reverse("home"))
    assert home.status_code == 200
    assert grace.full_name in home.content.decode()
    assert "read replica failed (OperationalError)" in caplog.text
    # Resting: the next page asks the primary at once, and still finds her.
    response = client.get(reverse("patient-search"), {"nhs_number": grace.nhs_number})
    assert response.status_code == 200
    assert grace.full_name in response.content.decode()
    assert connections[REPLICA].connection is None  # not even tried
    assert caplog.text.count("read replica failed") == 1
