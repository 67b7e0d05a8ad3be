"""Fetching through a real Celery worker: in parallel, bounded by timeouts, surviving a kill.

The broker is whatever the run uses (Redis in CI's second run; in-memory or file-backed otherwise).
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery

from demo.clinical import SERVED_TYPES, resources_for
from demo.sources import Behaviour
from records.categories import ALL_CATEGORIES, Category
from records.fetching import request_refresh
from records.models import Snapshot
from records.sources.resource_types import CATEGORY_RESOURCE_TYPES
from tests.fetch_helpers import child_pids, database_url, link_everywhere

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parent.parent


def wait_until(condition, timeout: float = 60.0, what: str = "the worker") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def categories_held(source_key: str) -> set[str]:
    served = set(SERVED_TYPES[source_key])
    return {category for category, types in CATEGORY_RESOURCE_TYPES.items() if served & set(types)}


def settled() -> bool:
    return not Snapshot.objects.filter(status=Snapshot.Status.PENDING).exists()


def test_a_patient_known_to_five_sources_gets_every_category(
    population, simulated_source, celery_worker
):
    record = link_everywhere(population, simulated_source, population.people[0])

    asked = request_refresh(patient=record.patient)

    assert len(asked) == 5
    wait_until(settled)
    for key, link in record.links.items():
        snapshots = {s.category: s for s in Snapshot.objects.filter(link=link)}
        assert set(snapshots) == set(ALL_CATEGORIES)
        assert {s.status for s in snapshots.values()} == {Snapshot.Status.FRESH}, key
        holding = {category for category, s in snapshots.items() if s.item_count}
        assert holding <= categories_held(key)
    shown = Snapshot.objects.filter(item_count__gt=0).values_list("category", flat=True)
    assert set(shown) == set(ALL_CATEGORIES)


def test_a_slow_and_a_failing_source_do_not_hold_back_the_other_three(
    population, simulated_source, celery_worker, settings
):
    settings.LCR_FETCH_MAX_RETRIES = 1
    settings.LCR_FETCH_RETRY_BACKOFF_SECONDS = 0.1
    record = link_everywhere(population, simulated_source, population.people[0], timeout=1.0)
    record.servers["acute"].behaviour = Behaviour(fault="timeout", hang_seconds=5)
    record.servers["mental_health"].behaviour = Behaviour(fault="error_500")
    request_refresh(patient=record.patient, categories=[Category.ALLERGIES, Category.CARE_PLANS])

    healthy = ("gp", "community", "social_care")
    wait_until(
        lambda: all(
            Snapshot.objects.filter(link=record.links[key], status=Snapshot.Status.FRESH).count()
            == 2
            for key in healthy
        ),
        what="the healthy sources",
    )
    wait_until(settled, what="the failing sources")
    for key, reason in (
        ("acute", "source unavailable: timed out"),
        ("mental_health", "source unavailable: server error 500"),
    ):
        states = set(
            Snapshot.objects.filter(link=record.links[key]).values_list("status", "reason")
        )
        assert states == {(Snapshot.Status.FAILED, reason)}
    # The healthy sources did not wait: they were all in before the slow one gave up.
    healthy_done = Snapshot.objects.filter(link__in=[record.links[k] for k in healthy])
    slow_done = Snapshot.objects.filter(link=record.links["acute"])
    assert max(s.updated_at for s in healthy_done) < min(s.updated_at for s in slow_done)


@pytest.fixture
def worker_process(transactional_db, tmp_path):
    """A separate `celery worker` process (prefork), on the run's broker and test database."""
    queue = f"lcr-kill-{uuid.uuid4().hex[:8]}"
    broker = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost/")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker,
        "CELERY_BROKER_DIR": str(tmp_path / "broker"),
        "LCR_FETCH_MAX_RETRIES": "0",
    }
    log = (tmp_path / "worker.log").open("wb")
    command = [sys.executable, "-m", "celery", "-A", "lcr", "worker", "--pool", "prefork"]
    command += ["--concurrency", "1", "-Q", queue, "--loglevel", "INFO", "--without-mingle"]
    command += ["--without-gossip", "--without-heartbeat"]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    sender = Celery("lcr-test-sender", broker=broker)
    if broker.startswith("filesystem://"):
        (tmp_path / "broker" / "control").mkdir(parents=True)
        folder = str(tmp_path / "broker")
        sender.conf.broker_transport_options = {
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": str(tmp_path / "broker" / "control"),
        }
    try:
        yield process, sender, queue, tmp_path / "worker.log"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_a_worker_killed_mid_task_has_the_task_redelivered_and_nothing_duplicated(
    population, simulated_source, worker_process
):
    process, sender, queue, log = worker_process
    record = link_everywhere(population, simulated_source, population.people[0])
    link, server = record.links["gp"], record.servers["gp"]
    server.behaviour = Behaviour(latency_ms=1500)
    categories = [Category.ALLERGIES, Category.MEDICINES]

    sender.send_task("records.tasks.fetch_source_record", args=[link.pk, categories], queue=queue)
    wait_until(lambda: server.requests_served >= 1, what="the first request to the source")
    children = child_pids(process.pid)
    assert children, "prefork worker has no pool process"
    for child in children:
        os.kill(child, signal.SIGKILL)
    server.behaviour = Behaviour()

    wait_until(
        lambda: Snapshot.objects.filter(link=link, status=Snapshot.Status.FRESH).count() == 2,
        what=f"the redelivered task (worker log: {log})",
    )
    assert "SIGKILL" in log.read_text()
    # The redelivered task saved each category once and whole: every resource, no repeats.
    for category in categories:
        items = Snapshot.objects.get(link=link, category=category).items
        ids = [item["resource_id"] for item in items]
        assert len(ids) == len(set(ids))
        expected = {
            resource["id"]
            for resource_type in CATEGORY_RESOURCE_TYPES[category]
            for resource in resources_for(population, population.people[0], "gp").get(
                resource_type, []
            )
        }
        assert set(ids) == expected
