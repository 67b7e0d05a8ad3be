"""`/metrics`: only for Prometheus (an allowed address or the bearer token; 404 for everyone
else), and what it counts: requests by view name, looks and access events by channel, each
source's fetches and circuit, the queues, audit write failures; added up across processes in
multiprocess mode."""

import datetime
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from django.db import DatabaseError
from django.urls import reverse
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from access import services
from access.models import Role, Team
from lcr.celery import app as celery_app
from records.categories import ALL_CATEGORIES, Category
from records.fetching import fetch_link
from records.models import Link, MatchMethod, Snapshot, SourceCircuit, SourceSystem
from tests.factories import LinkFactory, PatientFactory, UserFactory, make_team, member

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "scrape-token-for-tests-0123456789"


@pytest.fixture
def scraping(settings):
    settings.LCR_METRICS_TOKEN = TOKEN
    settings.LCR_METRICS_ALLOWED_ADDRESSES = []


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = client.get(reverse("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# Who may read /metrics


def test_metrics_are_refused_with_404_to_anyone_without_the_token_or_an_allowed_address(
    client, scraping
):
    response = client.get(reverse("metrics"))

    assert response.status_code == 404
    assert b"lcr_" not in response.content


def test_metrics_are_refused_with_a_wrong_token_or_the_token_in_the_query(client, scraping):
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 404
    assert client.get(f"/metrics?token={TOKEN}").status_code == 404


def test_metrics_are_refused_to_every_address_when_no_token_or_address_is_configured(
    client, settings
):
    settings.LCR_METRICS_TOKEN = ""
    settings.LCR_METRICS_ALLOWED_ADDRESSES = []

    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


def test_metrics_are_refused_to_a_signed_in_superuser(client, scraping):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))

    assert client.get(reverse("metrics")).status_code == 404


def test_metrics_answer_an_allowed_network_by_its_socket_address_never_a_forwarded_header(
    client, settings
):
    settings.LCR_METRICS_TOKEN = ""
    settings.LCR_METRICS_ALLOWED_ADDRESSES = ["10.20.0.0/16", "::1"]

    assert client.get("/metrics", REMOTE_ADDR="10.20.3.4").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    refused = client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="10.20.3.4")
    assert refused.status_code == 404


def test_metrics_answer_the_bearer_token_from_any_address(client, scraping):
    response = client.get(
        "/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", REMOTE_ADDR="198.51.100.9"
    )

    assert response.status_code == 200
    assert b"lcr_http_request_seconds" in response.content


# What is counted


@pytest.fixture
def caring(client):
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
        confirmed_at=timezone.now(),
    )  # fmt: skip
    now = timezone.now()
    Snapshot.objects.create(
        link=link, category="flags", status="fresh", item_count=1, requested_at=now,
        fetched_at=now, expires_at=now + datetime.timedelta(hours=1),
        items=[{"resource_type": "Flag", "resource_id": "F1", "title": "Lives alone"}],
    )  # fmt: skip
    client.force_login(worker)
    return client, patient


def test_request_latency_is_labelled_by_the_view_name_never_the_path(
    caring, scraping, django_capture_on_commit_callbacks
):
    client, patient = caring
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(reverse("patient-record", args=[patient.pk])).status_code == 200
    client.get("/no-such-page/")

    samples = scrape(client)

    views = {dict(labels).get("view") for name, labels in samples if name.startswith("lcr_http")}
    assert {"patient-record", "<unresolved>"} <= views
    assert not any(str(patient.pk) in (view or "") or "/" in (view or "") for view in views)
    count = dict(view="patient-record", method="GET", status="200")
    assert samples[("lcr_http_request_seconds_count", tuple(sorted(count.items())))] >= 1


def test_a_look_counts_one_look_shown_and_one_access_event_on_the_web_channel(
    caring, django_capture_on_commit_callbacks
):
    client, patient = caring
    looks = sample("lcr_looks_total", channel="web", outcome="shown")
    events = sample("lcr_access_events_total", channel="web", kind="record")

    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(reverse("patient-record", args=[patient.pk])).status_code == 200

    assert sample("lcr_looks_total", channel="web", outcome="shown") == looks + 1
    assert sample("lcr_access_events_total", channel="web", kind="record") == events + 1


def test_a_refused_look_is_counted_as_refused_and_writes_no_access_event(
    client, django_capture_on_commit_callbacks
):
    team = make_team("Another team", Team.Kind.SOCIAL_CARE_TEAM, ods_code="LBX")
    client.force_login(member(team, Role.SOCIAL_WORKER, "stranger"))
    refused = sample("lcr_looks_total", channel="web", outcome="refused")
    events = sample("lcr_access_events_total", channel="web", kind="record")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(reverse("patient-record", args=[PatientFactory().pk]))

    assert response.status_code == 404
    assert sample("lcr_looks_total", channel="web", outcome="refused") == refused + 1
    assert sample("lcr_access_events_total", channel="web", kind="record") == events


def test_an_access_event_that_cannot_be_written_counts_an_audit_write_failure(caring, monkeypatch):
    client, patient = caring

    def refuse(**kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr("care_record.reading.record_access", refuse)
    failures = sample("lcr_audit_write_failures_total", what="look")

    response = client.get(reverse("patient-record", args=[patient.pk]))

    assert response.status_code == 503
    assert sample("lcr_audit_write_failures_total", what="look") == failures + 1
    assert sample("lcr_looks_total", channel="web", outcome="not_recorded") >= 1


def test_a_rolled_back_access_event_is_not_counted_as_written():
    from django.db import transaction

    from tests.factories import a_look

    events = sample("lcr_access_events_total", channel="web", kind="record")
    with transaction.atomic():
        a_look(PatientFactory(), UserFactory())
        transaction.set_rollback(True)

    assert sample("lcr_access_events_total", channel="web", kind="record") == events


def fetch_count(source: str, outcome: str) -> float:
    return sample("lcr_source_fetch_seconds_count", source=source, outcome=outcome)


def test_a_fetch_from_a_switched_off_source_is_counted_by_its_ods_code():
    link = LinkFactory(source__ods_code="RSW01", source__enabled=False)
    before = fetch_count("RSW01", "switched_off")

    fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True)

    assert fetch_count("RSW01", "switched_off") == before + 1


def test_a_fetch_from_a_paused_source_is_counted_as_paused():
    link = LinkFactory(source__ods_code="RPA01")
    SourceCircuit.objects.create(
        source=link.source,
        consecutive_failures=5,
        opened_at=timezone.now(),
        open_until=timezone.now() + datetime.timedelta(minutes=1),
    )
    before = fetch_count("RPA01", "paused")

    fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True)

    assert fetch_count("RPA01", "paused") == before + 1


def test_a_fetch_from_a_source_that_does_not_answer_is_counted_unavailable():
    # Port 9 (discard) is closed here: the source cannot be reached.
    link = LinkFactory(source__ods_code="RDN01", source__timeout_seconds=0.5)
    before = fetch_count("RDN01", "unavailable")

    fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True)

    assert fetch_count("RDN01", "unavailable") == before + 1


@pytest.mark.integration
def test_a_fetch_a_source_answers_is_counted_answered_with_its_latency(
    population, simulated_source
):
    from tests.fetch_helpers import link_everywhere

    record = link_everywhere(population, simulated_source, population.people[0])
    link = record.links["gp"]
    code = record.sources["gp"].ods_code
    before = fetch_count(code, "answered")
    took = sample("lcr_source_fetch_seconds_sum", source=code, outcome="answered")

    fetch_link(link_id=link.pk, categories=list(ALL_CATEGORIES), final_attempt=True)

    assert fetch_count(code, "answered") == before + 1
    assert sample("lcr_source_fetch_seconds_sum", source=code, outcome="answered") > took


def test_each_sources_circuit_state_is_read_at_scrape_time(client, scraping):
    now = timezone.now()
    closed = SourceSystem.objects.create(
        ods_code="RC1", name="A", kind="acute", base_url="http://a"
    )
    paused = SourceSystem.objects.create(
        ods_code="RC2", name="B", kind="acute", base_url="http://b"
    )
    trial = SourceSystem.objects.create(
        ods_code="RC3", name="C", kind="acute", base_url="http://c", enabled=False
    )
    SourceCircuit.objects.create(
        source=paused, consecutive_failures=6, open_until=now + datetime.timedelta(minutes=1)
    )
    SourceCircuit.objects.create(
        source=trial, consecutive_failures=5, open_until=now - datetime.timedelta(seconds=1)
    )
    assert closed.pk

    samples = scrape(client)

    def state(source: str) -> str:
        found = [
            dict(labels)["state"]
            for (name, labels), value in samples.items()
            if name == "lcr_source_circuit_state" and dict(labels)["source"] == source and value
        ]
        assert len(found) == 1
        return found[0]

    assert (state("RC1"), state("RC2"), state("RC3")) == ("closed", "open", "trial")
    assert samples[("lcr_source_enabled", (("source", "RC3"),))] == 0
    assert samples[("lcr_source_enabled", (("source", "RC1"),))] == 1
    assert samples[("lcr_source_consecutive_failures", (("source", "RC2"),))] == 6
    assert samples[("lcr_metrics_collector_up", (("collector", "sources"),))] == 1


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


def test_the_file_brokers_queue_length_and_oldest_task_age_are_read_from_its_folder(
    client, scraping, broker_at, tmp_path
):
    broker_at("filesystem://localhost/", data_folder_in=str(tmp_path))
    queue = celery_app.conf.task_default_queue
    for n, age in enumerate((120, 30, 5)):
        message = tmp_path / f"{n}_id{n}.{queue}.msg"
        message.write_text("{}")
        written = time.time() - age
        os.utime(message, (written, written))
    (tmp_path / "0_other.another-queue.msg").write_text("{}")

    samples = scrape(client)

    assert samples[("lcr_celery_queue_length", (("queue", queue),))] == 3
    oldest = samples[("lcr_celery_queue_oldest_task_seconds", (("queue", queue),))]
    assert 119 <= oldest < 180
    assert samples[("lcr_broker_up", ())] == 1


def test_an_unreachable_broker_still_lets_the_scrape_answer_saying_so(
    client, scraping, broker_at, settings
):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.LCR_BROKER_CHECK_TIMEOUT_SECONDS = 0.5
    broker_at(f"redis://127.0.0.1:{port}/0")

    samples = scrape(client)

    assert samples[("lcr_broker_up", ())] == 0
    assert not any(name == "lcr_celery_queue_length" for name, _ in samples)


def test_queue_metrics_are_left_out_for_a_broker_that_cannot_be_read_without_taking(
    client, scraping
):
    assert celery_app.conf.broker_url.startswith(("memory://", "redis://"))
    samples = scrape(client)

    lengths = [labels for name, labels in samples if name == "lcr_celery_queue_length"]
    if celery_app.conf.broker_url.startswith("memory://"):
        assert lengths == []
    else:
        assert lengths  # Redis (CI's second run): LLEN


def test_every_task_sent_carries_the_time_it_was_sent():
    from lcr.task_metrics import SENT_AT_HEADER, stamp_sent_at

    headers: dict = {}
    stamp_sent_at(headers=headers)

    assert abs(headers[SENT_AT_HEADER] - time.time()) < 5


# Several processes


MULTIPROCESS_CHILD = textwrap.dedent(
    """
    import django, os, sys
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lcr.settings")
    django.setup()
    from audit.metrics import LOOKS
    from records.metrics import FetchResult, fetch_finished
    LOOKS.labels(channel="api", outcome="shown").inc(int(sys.argv[1]))
    fetch_finished(source_ods_code="RMP01", result=FetchResult.ANSWERED, seconds=0.2)
    """
)
MULTIPROCESS_SCRAPER = textwrap.dedent(
    """
    import django, os
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lcr.settings")
    django.setup()
    from lcr import metrics
    print(metrics.exposition().decode())
    """
)


def test_in_multiprocess_mode_metrics_add_up_across_processes(tmp_path):
    """Two processes (as two gunicorn or Celery workers) count; a third's scrape sums them."""
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "CELERY_BROKER_URL": "memory://",
    }
    for looks in (2, 3):
        subprocess.run(
            [sys.executable, "-c", MULTIPROCESS_CHILD, str(looks)],
            env=env, cwd=ROOT, check=True, timeout=120,
        )  # fmt: skip
    scraped = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS_SCRAPER],
        env=env, cwd=ROOT, check=True, timeout=120, capture_output=True, text=True,
    ).stdout  # fmt: skip

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
    }
    assert samples[("lcr_looks_total", (("channel", "api"), ("outcome", "shown")))] == 5
    fetches = (("outcome", "answered"), ("source", "RMP01"))
    assert samples[("lcr_source_fetch_seconds_count", fetches)] == 2
    assert len(list(tmp_path.glob("*.db"))) >= 2


def test_a_worker_hosts_metrics_server_serves_its_workers_sums_only_to_the_allowed(
    tmp_path, settings
):
    """lcr/worker_metrics.py, as a host running only workers serves it."""
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "CELERY_BROKER_URL": "memory://",
    }
    subprocess.run(
        [sys.executable, "-c", MULTIPROCESS_CHILD, "4"], env=env, cwd=ROOT, check=True, timeout=120
    )
    from lcr import worker_metrics

    settings.LCR_METRICS_TOKEN = TOKEN
    settings.LCR_METRICS_ALLOWED_ADDRESSES = []

    def get(**environ) -> tuple[str, bytes]:
        answered = {}

        def start_response(status, headers):
            answered["status"] = status

        base = {"PATH_INFO": "/metrics", "REQUEST_METHOD": "GET", "REMOTE_ADDR": "10.0.0.9"}
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
            body = b"".join(worker_metrics.application({**base, **environ}, start_response))
        return answered["status"], body

    status, body = get(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert status == "200 OK"
    assert b'lcr_looks_total{channel="api",outcome="shown"} 4.0' in body
    assert get()[0] == "404 Not Found"
    assert get(HTTP_AUTHORIZATION="Bearer wrong")[0] == "404 Not Found"
    assert get(HTTP_AUTHORIZATION=f"Bearer {TOKEN}", PATH_INFO="/other")[0] == "404 Not Found"
