"""The access-event trail: one event per look, fail closed, append-only, tamper-evident."""

import re

import pytest
from django.db import DatabaseError
from django.urls import reverse

from access import services
from access.models import Role, Team
from audit.models import AccessEvent, AppendOnlyError
from records.models import Link, MatchMethod, Snapshot, SourceSystem
from tests.factories import PatientFactory, UserFactory, make_team, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def looked_at(client):
    """A social worker whose team cares for a patient with a snapshot from one source."""
    team = make_team("Riverside Social Care", Team.Kind.SOCIAL_CARE_TEAM, ods_code="LBR")
    worker = member(team, Role.SOCIAL_WORKER, "sw")
    patient = PatientFactory()
    services.start_relationship(
        patient=patient, team=team, kind="social_care_case", reason="open case",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    source = SourceSystem.objects.create(
        ods_code="Y1", name="GP", kind="gp", base_url="http://127.0.0.1:9/fhir"
    )
    link = Link.objects.create(
        patient=patient, source=source, local_id="L1", matched_by=MatchMethod.NHS_NUMBER,
        confirmed_at="2026-11-25T09:00:00Z",
    )  # fmt: skip
    Snapshot.objects.create(
        link=link, category="flags", status="fresh", item_count=1, requested_at="2026-11-25T09:00Z",
        fetched_at="2026-11-25T09:00Z", expires_at="2099-01-01T00:00Z",
        items=[{"resource_type": "Flag", "resource_id": "F1", "title": "Lives alone"}],
    )  # fmt: skip
    client.force_login(worker)
    return client, worker, team, patient


def look(client, patient, **headers):
    return client.get(reverse("patient-record", kwargs={"patient_id": patient.pk}), **headers)


def test_each_look_writes_exactly_one_event_naming_what_was_shown(looked_at):
    client, worker, team, patient = looked_at
    response = look(
        client, patient, HTTP_USER_AGENT="Ward PC 7", HTTP_X_REQUEST_ID="req-123",
        REMOTE_ADDR="10.1.2.3",
    )  # fmt: skip

    assert response.status_code == 200
    event = AccessEvent.objects.get()
    assert (event.user, event.username, event.team_id, event.role) == (
        worker, "sw", team.pk, Role.SOCIAL_WORKER,
    )  # fmt: skip
    assert event.patient == patient
    assert event.basis == "relationship" and event.relationship_id is not None
    tabs = re.findall(
        r'class="lcr-record-nav__tab" href="[^"]*#tab-(\w+)"', response.content.decode()
    )
    shown = [tab for tab in tabs if tab != "timeline"]  # a tab a heading, and the timeline
    assert event.categories == shown
    assert "test_results" not in event.categories  # a social worker's policy
    assert event.resource_ids == ["Y1/Flag/F1"]
    assert (event.channel, event.purpose) == ("web", "direct_care")
    assert (event.ip_address, event.user_agent, event.request_id) == (
        "10.1.2.3", "Ward PC 7", "req-123",
    )  # fmt: skip

    look(client, patient)
    assert AccessEvent.objects.count() == 2


def test_a_refused_look_shows_nothing_and_records_no_look(client):
    patient = PatientFactory()
    client.force_login(member(make_team("T", Team.Kind.COMMUNITY_TEAM), Role.COMMUNITY_NURSE))
    assert look(client, patient).status_code == 404
    assert not AccessEvent.objects.exists()


def test_if_the_event_cannot_be_written_nothing_is_shown(looked_at, monkeypatch):
    client, _, _, patient = looked_at

    def broken(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr("care_record.reading.record_access", broken)
    response = look(client, patient)

    assert response.status_code == 503
    page = response.content.decode()
    assert "cannot be shown right now" in page
    assert patient.family_name.upper() not in page and "Lives alone" not in page


def test_events_cannot_be_changed_or_deleted_through_the_orm(looked_at):
    client, _, _, patient = looked_at
    look(client, patient)
    event = AccessEvent.objects.get()
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AccessEvent.objects.update(username="someone else")
    with pytest.raises(AppendOnlyError):
        AccessEvent.objects.all().delete()
