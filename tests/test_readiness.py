"""`/readyz`: the database, the broker, beat's and the worker's heartbeats and overdue fetches,
each named with its state; `/healthz`; and the sweep that ends fetches nobody answered. (The
same with real processes killed: tests/test_worker_faults.py.)"""

import datetime
import socket
import time

import pytest
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from lcr.celery import app as celery_app
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
        "database": "ok",
        "beat": "ok",
        "worker": "ok",
        "fetches": "ok",
        "broker": "ok",
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


def closed_port() -> int:
    """A port on this machine that nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def broker_at(monkeypatch):
    """Point the Celery app at another broker for one test (nothing is sent to it). Celery reads
    CELERY_BROKER_URL from the environment before its settings, so that is changed too."""
    before = {
        "broker_url": celery_app.conf.broker_url,
        "broker_transport_options": celery_app.conf.broker_transport_options,
    }

    def point_at(url: str, **options) -> None:
        monkeypatch.setenv("CELERY_BROKER_URL", url)
        celery_app.conf.update(broker_url=url, broker_transport_options=options)

    yield point_at
    celery_app.conf.update(before)


def test_readiness_fails_naming_the_broker_when_it_is_unreachable_and_answers_quickly(
    client, broker_at, settings
):
    settings.LCR_BROKER_CHECK_TIMEOUT_SECONDS = 0.5
    beating()
    broker_at(f"redis://127.0.0.1:{closed_port()}/0")

    started = time.monotonic()
    response = client.get(reverse("ready"))

    assert time.monotonic() - started < 5
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["broker"]["status"] == "unreachable"
    assert body["checks"]["broker"]["transport"] == "redis"
    assert body["problems"] == ["broker: unreachable (ConnectionError)"]
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["worker"]["status"] == "ok"
    assert "127.0.0.1" not in response.content.decode()  # the broker's address is not told


def test_readiness_fails_naming_the_file_broker_when_its_folder_is_gone(
    client, broker_at, tmp_path
):
    beating()
    broker_at("filesystem://localhost/", data_folder_in=str(tmp_path / "gone"))

    response = client.get(reverse("ready"))

    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {
        "status": "unreachable",
        "transport": "filesystem",
        "detail": "its folder cannot be read and written",
    }


def test_readiness_passes_with_the_file_broker_of_make_run(client, broker_at, tmp_path):
    beating()
    broker_at("filesystem://localhost/", data_folder_in=str(tmp_path))

    response = client.get(reverse("ready"))

    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == {"status": "ok", "transport": "filesystem"}


def test_readiness_fails_naming_the_database_when_it_cannot_be_read(client, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("lcr.views.readiness", unreachable)

    response = client.get(reverse("ready"))

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == {"status": "unreachable"}
    assert body["problems"] == ["database: unreachable"]
    assert body["checks"]["broker"]["status"] == "ok"  # still checked, and said


def test_readiness_fails_naming_beat_and_worker_when_their_heartbeats_are_old(client, settings):
    settings.LCR_HEARTBEAT_STALE_SECONDS = 60
    beating(beat_age=120, worker_age=120)

    response = client.get(reverse("ready"))

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert (checks["beat"]["status"], checks["worker"]["status"]) == ("stale", "stale")
    assert (checks["database"]["status"], checks["broker"]["status"]) == ("ok", "ok")


def test_liveness_answers_without_heartbeats_or_broker(client, broker_at):
    broker_at(f"redis://127.0.0.1:{closed_port()}/0")

    response = client.get(reverse("health"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
