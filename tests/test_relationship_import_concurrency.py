"""Two imports of the same file at once, on two connections, in real transactions (PostgreSQL:
SQLite runs one writer at a time, so its imports never overlap): still no duplicates, because
the database's constraint refuses the second even when its check could not yet see the first;
the losing import says every row was already in place, with no error and nothing half written."""

import threading

import pytest
from django.db import IntegrityError, connections, transaction
from django.test import Client

from access import importing
from access.importing import running
from access.models import CareRelationship, RelationshipImport, Role, Team
from tests.factories import PatientFactory, UserFactory, make_team, member
from tests.import_helpers import HEADER, check, results_page, run

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]


def in_threads(*actions):
    """Run each action on a thread (and connection) of its own; their results, or raise."""
    results, errors = [None] * len(actions), []

    def call(index, action):
        try:
            results[index] = action()
        except BaseException as exc:  # handed back to the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "an import never finished"
    if errors:
        raise errors[0]
    return results


def signed_in(user) -> Client:
    """A client of its own for this administrator, past the second factor (as tests/conftest.py's
    `client` is: one client signing in a second person would end the first's session)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.create(user=user, name="test device", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def test_two_imports_of_the_same_file_at_once_make_each_relationship_once(monkeypatch):
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    make_team("Riverside District Nurses", Team.Kind.COMMUNITY_TEAM, ods_code="RXC")
    patients = [PatientFactory() for _ in range(5)]
    text = HEADER + "".join(
        f"{p.nhs_number},RXC,Riverside District Nurses,referral,,,wound care\n" for p in patients
    )
    clients, uploads = [], []
    for name in ("first-admin", "second-admin"):
        own = signed_in(member(office, Role.ADMINISTRATOR, name))
        clients.append(own)
        uploads.append(check(own, text))
    # Both imports begin, and both look for their first row already in place, before either
    # writes it: only the database can then stop the second.
    both_looked = threading.Barrier(2, timeout=30)
    started = threading.local()
    real_start = running.start_relationship

    def start_once_both_have_begun(**values):
        if not getattr(started, "waited", False):
            started.waited = True
            both_looked.wait()
        return real_start(**values)

    monkeypatch.setattr(running, "start_relationship", start_once_both_have_begun)
    refusals = []
    real_create = CareRelationship.objects.create

    def create_counting_refusals(**values):
        try:
            return real_create(**values)
        except IntegrityError:
            refusals.append(values["patient"].pk)
            raise

    monkeypatch.setattr(CareRelationship.objects, "create", create_counting_refusals)

    responses = in_threads(
        *(lambda c=own, k=kept: run(c, k) for own, kept in zip(clients, uploads, strict=True))
    )

    assert [response.status_code for response in responses] == [302, 302]
    assert refusals, "the database's constraint was never what stopped a duplicate"
    assert CareRelationship.objects.count() == len(patients)
    assert set(CareRelationship.objects.values_list("patient_id", flat=True)) == {
        p.pk for p in patients
    }
    outcomes = []
    for kept in RelationshipImport.objects.order_by("pk"):
        assert kept.imported_at is not None
        outcomes.append(sorted(r.outcome.value for r in importing.imported_rows(kept)))
    assert sorted(outcomes) == [["created"] * 5, ["in_place"] * 5]
    loser = next(
        index for index, kept in enumerate(uploads)
        if importing.imported_rows(RelationshipImport.objects.get(pk=kept.pk))[0].outcome
        is importing.Outcome.IN_PLACE
    )  # fmt: skip
    page = results_page(clients[loser], uploads[loser])
    assert "Nothing new to import" in page
    assert "If someone imported the same file at the same time, their import created them." in page
    assert page.count("This relationship is already in place (from ") == 5


def test_the_database_alone_refuses_the_second_of_two_writers_at_once():
    """Without the service's check: two transactions insert the same relationship; the second
    waits for the first to commit, then is refused."""
    team = make_team("Riverside District Nurses", Team.Kind.COMMUNITY_TEAM, ods_code="RXC")
    patient, actor = PatientFactory(), UserFactory()
    first_inserted, first_may_commit = threading.Event(), threading.Event()
    values = {"patient": patient, "team": team, "kind": "referral", "reason": "r",
              "created_by": actor, "starts_on": "2027-01-01"}  # fmt: skip

    def first():
        with transaction.atomic():
            CareRelationship.objects.create(**values)
            first_inserted.set()
            first_may_commit.wait(timeout=30)

    def second():
        first_inserted.wait(timeout=30)
        threading.Timer(1.0, first_may_commit.set).start()  # while the second waits on it
        try:
            with transaction.atomic():
                CareRelationship.objects.create(**values, ends_on="2027-06-30")
        except IntegrityError as exc:
            return str(exc)
        return None

    _, refused = in_threads(first, second)

    assert refused is not None and "relationship_team_not_twice" in refused
    assert CareRelationship.objects.count() == 1
