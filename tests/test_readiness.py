"""`/readyz`: beat's and the worker's heartbeats and overdue fetches, and the sweep that ends
fetches nobody answered. (The same with real processes killed: tests/test_worker_faults.py.)"""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from records.categories import Category
from records.fetching import OVERDUE_REASON, fail_overdue_fetches, overdue_after
from records.heartbeats import OVERDUE_SHOWN, record_heartbeat
from records.models import Heartbeat, Snapshot
from records.tasks import heartbeat
from tests.factories import LinkFactory

pytestmark = pytest.mark.django_db


def beating(*, beat_age: float = 1, worker_age: float = 1) -> None:
    now = timezone.now()
    record_heartbeat(process=Heartbeat.Process.BEAT, now=now - datetime.timedelta(seconds=beat_age))
    record_heartbeat(
        process=Heartbeat.Process.WORKER, now=now - datetime.timedelta(seconds=worker_age)
    )


def pending_since(link, category: str, seconds: float) -> Snapshot:
    asked = timezone.now() - datetime.timedelta(seconds=seconds)
    return Snapshot.objects.create(
        link=link,
        category=category,
        status=Snapshot.Status.PENDING,
        requested_at=asked,
        request_token="t",
        items=[{"title": "Penicillin allergy"}],
        item_count=1,
        fetched_at=asked - datetime.timedelta(minutes=10),
        expires_at=timezone.now() + datetime.timedelta(hours=1),
    )


def long_overdue() -> float:
    return overdue_after().total_seconds() + 10 * 60


def test_readiness_is_ok_when_beat_and_worker_beat_and_no_fetch_is_overdue(client):
    beating()

    response = client.get(reverse("ready"))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["problems"] == []
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "beat": "ok",
        "worker": "ok",
        "fetches": "ok",
    }
    assert response["Cache-Control"].startswith("max-age=0")


def test_readiness_fails_before_any_heartbeat_naming_both(client):
    response = client.get(reverse("ready"))

    assert response.status_code == 503
    problems = response.json()["problems"]
    assert problems[0] == "beat: no heartbeat yet"
    assert problems[1].startswith("worker: no heartbeat yet; beat")


def test_readiness_fails_naming_beat_when_its_heartbeat_is_old(client, settings):
    settings.LCR_HEARTBEAT_STALE_SECONDS = 60
    beating(beat_age=75)

    response = client.get(reverse("ready"))

    assert response.status_code == 503
    body = response.json()
    assert body["problems"] == ["beat: no heartbeat for 75 s (stale after 60 s)"]
    assert body["checks"]["beat"] == {"status": "stale", "seconds_since_heartbeat": 75}
    assert body["checks"]["worker"]["status"] == "ok"


def test_readiness_fails_naming_the_worker_when_beat_sends_but_nothing_runs(client, settings):
    settings.LCR_HEARTBEAT_STALE_SECONDS = 60
    beating(worker_age=300)

    response = client.get(reverse("ready"))

    assert response.status_code == 503
    assert response.json()["problems"] == ["worker: no heartbeat for 300 s (stale after 60 s)"]


def test_readiness_fails_when_fetches_wait_past_their_deadline_and_shows_no_patient_data(client):
    beating()
    link = LinkFactory()
    pending_since(link, Category.ALLERGIES, long_overdue())
    pending_since(link, Category.MEDICINES, 5)  # still within its deadline

    response = client.get(reverse("ready"))

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["fetches"]["status"] == "overdue"
    assert body["checks"]["fetches"]["overdue"] == 1
    assert body["problems"][0].startswith("fetches: 1 pending past their deadline")
    text = response.content.decode()
    patient = link.patient
    for private in (patient.nhs_number, patient.family_name, link.local_id, "Penicillin"):
        assert private not in text


def test_readiness_reads_two_queries_however_many_fetches_are_overdue(
    client, django_assert_num_queries
):
    beating()
    for _ in range(OVERDUE_SHOWN + 5):
        pending_since(LinkFactory(), Category.ALLERGIES, long_overdue())

    with django_assert_num_queries(2):
        response = client.get(reverse("ready"))

    assert response.json()["problems"][0].startswith(f"fetches: {OVERDUE_SHOWN} or more pending")


def test_the_sweep_ends_overdue_fetches_with_a_reason_and_keeps_their_items():
    link = LinkFactory()
    lost = pending_since(link, Category.ALLERGIES, overdue_after().total_seconds() + 1)
    running = pending_since(link, Category.MEDICINES, 5)

    assert fail_overdue_fetches() == 1

    lost.refresh_from_db()
    running.refresh_from_db()
    assert (lost.status, lost.reason, lost.item_count) == (
        Snapshot.Status.FAILED,
        OVERDUE_REASON,
        1,
    )
    assert running.status == Snapshot.Status.PENDING


def test_the_heartbeat_task_records_the_worker_and_sending_it_records_beat(client):
    heartbeat.apply()  # run here, as a pool process would
    assert set(Heartbeat.objects.values_list("process", flat=True)) == {"worker"}

    heartbeat.apply_async(expires=1)  # sent, as beat does

    assert set(Heartbeat.objects.values_list("process", flat=True)) == {"beat", "worker"}
    assert client.get(reverse("ready")).status_code == 200
