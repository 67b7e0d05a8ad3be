"""A hostile source cannot exhaust the fetcher: every attack ends in a stated reason within the
source's time budget, the process's memory stays under a stated bound, and what is stored stays
small. Over real HTTP (tests/hostile_source.py), through fetch_link and through a real worker.
"""

import contextlib
import ctypes
import gc
import re
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from records.categories import ALL_CATEGORIES, Category
from records.fetching import fetch_link, request_refresh
from records.models import Link, MatchMethod, Snapshot
from records.sources.resource_types import CATEGORY_RESOURCE_TYPES
from tests.factories import PatientFactory, SourceSystemFactory
from tests.hostile_source import LOCAL_ID, HostileSource

pytestmark = [pytest.mark.integration]

BUDGET_SECONDS = 15.0
# Peak resident memory of the whole test process (fetcher, database, server thread) above where
# it stood before the fetch. The limits allow a 10 MB answer; without them the 50 MB string
# cost several hundred MB and the bomb more than a gigabyte.
MEMORY_BOUND_MB = 100
STORED_BOUND_BYTES = {"refused": 10_000, "withheld": 2_000_000}


@pytest.fixture
def hostile(settings):
    """Start a hostile source and link a new patient to it; stopped after the test."""
    settings.LCR_FETCH_SOURCE_BUDGET_SECONDS = BUDGET_SECONDS
    started = []

    def start(attack: str, **options) -> tuple[HostileSource, Link]:
        server = HostileSource(attack, **options).start()
        started.append(server)
        source = SourceSystemFactory(name="Hostile Trust", base_url=server.base_url)
        link = Link.objects.create(
            patient=PatientFactory(), source=source, local_id=LOCAL_ID,
            matched_by=MatchMethod.NHS_NUMBER, confirmed_at=timezone.now(),
        )  # fmt: skip
        return server, link

    yield start
    for server in started:
        server.stop()


def _status_kb(field: str) -> int:
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)[1])


class PeakMemory:
    growth_mb: float = 0.0


@contextlib.contextmanager
def peak_memory():
    """Peak RSS growth while the block runs (Linux: VmHWM, reset through /proc/self/clear_refs;
    freed heap is handed back first, so that room an earlier test left is not reused unseen)."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kb("VmRSS")
    measured = PeakMemory()
    yield measured
    measured.growth_mb = (_status_kb("VmHWM") - before) / 1024


def stored_bytes(snapshot: Snapshot) -> int:
    """What the snapshot's row holds, as the database keeps it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT items FROM records_snapshot WHERE id = %s", [snapshot.pk])
        (items,) = cursor.fetchone()
    return len(items if isinstance(items, str) else str(items)) + len(snapshot.reason)


def fetch_allergies(link: Link):
    with peak_memory() as memory:
        started = time.monotonic()
        outcome = fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True)
        elapsed = time.monotonic() - started
    return outcome, Snapshot.objects.get(link=link, category=Category.ALLERGIES), elapsed, memory


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        ("huge_body", "sent more than 10 MB"),
        ("gzip_bomb", "sent more than 10 MB once decompressed"),
        ("deep_nesting", "sent JSON nested more than 100 deep"),
        ("nul", "sent an invalid character (NUL)"),
        ("control_character", "sent an invalid character (control character U+0007)"),
        ("lone_surrogate", "sent an invalid character (a lone surrogate)"),
        ("many_empty_objects", "sent more than 500,000 JSON objects and arrays in one answer"),
    ],
)
def test_an_answer_past_a_limit_is_refused_whole_with_its_reason_in_bounded_time_and_memory(
    hostile, attack, reason
):
    _, link = hostile(attack)

    outcome, snapshot, elapsed, memory = fetch_allergies(link)

    assert outcome.failed == {Category.ALLERGIES: reason}
    assert (snapshot.status, snapshot.reason) == (Snapshot.Status.FAILED, reason)
    assert snapshot.items == []
    assert elapsed < BUDGET_SECONDS
    assert memory.growth_mb < MEMORY_BOUND_MB, f"{attack}: grew {memory.growth_mb:.0f} MB"
    assert stored_bytes(snapshot) < STORED_BOUND_BYTES["refused"]


@pytest.mark.django_db
@pytest.mark.parametrize("attack", ["many_resources", "many_resources_paged"])
def test_resources_past_the_heading_limit_are_withheld_counted_and_said(hostile, attack):
    server, link = hostile(attack)

    outcome, snapshot, elapsed, memory = fetch_allergies(link)

    assert outcome.fresh == [Category.ALLERGIES]
    assert snapshot.item_count == len(snapshot.items) == 2_000
    assert snapshot.withheld_count == 24_000
    assert snapshot.withheld_reason == "sent 26,000 resources; at most 2,000 are shown"
    assert [item["resource_id"] for item in snapshot.items[:2]] == ["h0", "h1"]
    assert elapsed < BUDGET_SECONDS
    assert memory.growth_mb < MEMORY_BOUND_MB, f"{attack}: grew {memory.growth_mb:.0f} MB"
    assert stored_bytes(snapshot) < STORED_BOUND_BYTES["withheld"]
    if attack == "many_resources_paged":
        # The metadata, then 20 pages of 100: the rest counted from Bundle.total, not read.
        assert server.requests == 21


@pytest.mark.django_db
def test_one_look_takes_at_most_the_look_limit_from_a_source_and_says_so(hostile, settings):
    settings.LCR_SOURCE_MAX_RESOURCES_PER_LOOK = 3_000
    _, link = hostile("many_resources_paged", types=("AllergyIntolerance", "Immunization"))
    categories = [Category.ALLERGIES, Category.IMMUNISATIONS]

    fetch_link(link_id=link.pk, categories=categories, final_attempt=True)

    snapshots = {s.category: s for s in Snapshot.objects.filter(link=link)}
    allergies, immunisations = snapshots[Category.ALLERGIES], snapshots[Category.IMMUNISATIONS]
    assert (allergies.item_count, allergies.withheld_count) == (2_000, 24_000)
    assert (immunisations.item_count, immunisations.withheld_count) == (1_000, 25_000)
    assert immunisations.withheld_reason == (
        "sent 26,000 resources; 1,000 are shown (at most 3,000 from one source in one look)"
    )


@pytest.mark.parametrize("attack", ["deep_nesting", "nul"])
def test_through_the_worker_every_heading_of_a_hostile_source_ends_failed_with_a_reason(
    hostile, celery_worker, attack
):
    every_type = tuple(t for types in CATEGORY_RESOURCE_TYPES.values() for t in types)
    _, link = hostile(attack, types=every_type)

    request_refresh(patient=link.patient)

    deadline = time.monotonic() + BUDGET_SECONDS
    while Snapshot.objects.filter(link=link, status=Snapshot.Status.PENDING).exists():
        assert time.monotonic() < deadline, "a heading was left waiting past the source's budget"
        time.sleep(0.1)
    states = set(Snapshot.objects.filter(link=link).values_list("category", "status", "reason"))
    reason = {
        "deep_nesting": "sent JSON nested more than 100 deep",
        "nul": "sent an invalid character (NUL)",
    }[attack]
    assert states == {(category, Snapshot.Status.FAILED, reason) for category in ALL_CATEGORIES}
