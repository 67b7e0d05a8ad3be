"""Fetching a record from simulated sources over real HTTP: each fault ends in a clear state."""

import datetime
import json
import logging
import math

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from demo.sources import Behaviour
from records import circuit
from records.categories import ALL_CATEGORIES, Category
from records.fetching import (
    PAUSED,
    UNEXPECTED,
    WRONG_PATIENT,
    _claim,
    _send,
    fetch_link,
    is_stale,
    purge_expired_snapshots,
    request_refresh,
    retry_delay,
)
from records.models import ItemsField, Link, Snapshot
from records.stored_items import stored_resource
from tests.fetch_helpers import link_everywhere

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def record(population, simulated_source):
    """Person 0, known to all five sources, linked to each of them."""
    return link_everywhere(population, simulated_source, population.people[0])


def snapshot(link: Link, category: str) -> Snapshot:
    return Snapshot.objects.get(link=link, category=category)


def test_a_source_gives_every_category_it_holds(record):
    link = record.links["gp"]
    outcome = fetch_link(link_id=link.pk, categories=list(ALL_CATEGORIES), final_attempt=True)

    assert outcome.failed == {}
    assert set(outcome.fresh) == set(ALL_CATEGORIES)
    allergies = snapshot(link, Category.ALLERGIES)
    assert allergies.status == Snapshot.Status.FRESH
    assert allergies.fetched_at is not None
    assert allergies.item_count == len(allergies.items)
    medicines = snapshot(link, Category.MEDICINES)
    assert medicines.item_count > 0
    assert {item["resource_type"] for item in medicines.items} == {"MedicationStatement"}


def test_items_read_back_exactly_as_stored(record):
    """Snapshots are read with orjson (records.models.ItemsField); the standard library reads
    the same stored text to the same items, every source resource included."""
    link = record.links["acute"]
    fetch_link(link_id=link.pk, categories=list(ALL_CATEGORIES), final_attempt=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, items FROM records_snapshot WHERE link_id = %s", [link.pk])
        stored = {pk: json.loads(text) for pk, text in cursor.fetchall()}

    read = {s.pk: s.items for s in Snapshot.objects.filter(link=link)}
    assert read == stored
    assert any(stored_resource(item) for items in read.values() for item in items)
    # JSON that orjson refuses (a number beyond a float, which jsonb keeps) is read as Django
    # reads it.
    [beyond] = ItemsField().from_db_value('[{"value": 1e400}]', None, connection)
    assert math.isinf(beyond["value"])


def test_fetching_twice_keeps_one_snapshot_per_category(record):
    link = record.links["acute"]
    for _ in range(2):
        fetch_link(link_id=link.pk, categories=[Category.ENCOUNTERS], final_attempt=True)
    assert Snapshot.objects.filter(link=link).count() == 1


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (Behaviour(fault="timeout", hang_seconds=3), "source unavailable: timed out"),
        (Behaviour(fault="error_500"), "source unavailable: server error 500"),
        (Behaviour(fault="rate_limit", retry_after=7), "source unavailable: too many requests"),
        (Behaviour(fault="connection_drop"), "source unavailable: could not connect"),
    ],
)
def test_an_unavailable_source_fails_on_the_last_attempt_with_its_reason(record, behaviour, reason):
    link = record.links["acute"]
    record.servers["acute"].behaviour = behaviour
    outcome = fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True)

    assert outcome.failed == {Category.ALLERGIES: reason}
    failed = snapshot(link, Category.ALLERGIES)
    assert (failed.status, failed.reason, failed.items) == (Snapshot.Status.FAILED, reason, [])


def test_an_unavailable_source_is_retried_not_failed_before_the_last_attempt(record):
    link = record.links["acute"]
    record.servers["acute"].behaviour = Behaviour(fault="rate_limit", retry_after=7)
    request_refresh(patient=record.patient, categories=[Category.ALLERGIES])

    outcome = fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=False)

    assert outcome.remaining == [Category.ALLERGIES]
    assert outcome.retry_after == 7
    waiting = snapshot(link, Category.ALLERGIES)
    assert waiting.status == Snapshot.Status.PENDING
    assert waiting.reason == "retrying: too many requests"


def test_a_refused_connection_fails_with_its_reason(record):
    link = record.links["community"]
    record.servers["community"].stop()
    outcome = fetch_link(link_id=link.pk, categories=[Category.CARE_PLANS], final_attempt=True)
    assert outcome.failed == {Category.CARE_PLANS: "source unavailable: could not connect"}


def test_an_unusable_answer_fails_that_category_only(record):
    link = record.links["gp"]
    record.servers["gp"].behaviour = Behaviour(
        fault="malformed_json", only_types=frozenset({"Condition"})
    )

    outcome = fetch_link(
        link_id=link.pk, categories=[Category.PROBLEMS, Category.ALLERGIES], final_attempt=True
    )

    assert outcome.failed == {Category.PROBLEMS: "response is not valid JSON"}
    assert outcome.fresh == [Category.ALLERGIES]
    assert snapshot(link, Category.PROBLEMS).status == Snapshot.Status.FAILED
    assert snapshot(link, Category.ALLERGIES).status == Snapshot.Status.FRESH


def test_invalid_resources_are_withheld_with_their_reason_and_the_valid_ones_shown(record):
    link = record.links["gp"]
    record.servers["gp"].behaviour = Behaviour(
        fault="invalid_fhir", only_types=frozenset({"Condition"})
    )

    outcome = fetch_link(link_id=link.pk, categories=[Category.PROBLEMS], final_attempt=True)

    assert outcome.fresh == [Category.PROBLEMS]
    problems = snapshot(link, Category.PROBLEMS)
    assert problems.status == Snapshot.Status.FRESH
    assert problems.item_count > 0 and problems.withheld_count > 0  # every other one is broken
    assert problems.withheld_reason.startswith(f"sent {problems.withheld_count} invalid (")


def test_a_resource_about_someone_else_fails_the_category_shows_nothing_and_is_raised(
    record, caplog
):
    link = record.links["gp"]
    fetch_link(link_id=link.pk, categories=[Category.ENCOUNTERS], final_attempt=True)
    assert snapshot(link, Category.ENCOUNTERS).item_count > 0
    record.servers["gp"].behaviour = Behaviour(fault="wrong_patient")

    with caplog.at_level(logging.WARNING, logger="records.fetching"):
        outcome = fetch_link(link_id=link.pk, categories=[Category.ENCOUNTERS], final_attempt=True)

    assert outcome.failed == {Category.ENCOUNTERS: WRONG_PATIENT}
    failed = snapshot(link, Category.ENCOUNTERS)
    assert (failed.status, failed.items, failed.fetched_at) == (Snapshot.Status.FAILED, [], None)
    [logged] = [r for r in caplog.records if "a different person" in r.getMessage()]
    assert logged.levelno == logging.ERROR and "Encounter/" in logged.getMessage()
    link.source.refresh_from_db()
    assert link.source.wrong_patient_count == 1 and link.source.wrong_patient_at is not None


def test_a_page_failing_midway_saves_nothing_of_that_category_as_fresh(record, settings):
    settings.LCR_SOURCE_PAGE_SIZE = 1  # every category with two or more items pages
    link = record.links["gp"]
    record.servers["gp"].behaviour = Behaviour(fault="fail_mid_paging")

    outcome = fetch_link(link_id=link.pk, categories=[Category.ENCOUNTERS], final_attempt=True)

    assert outcome.failed == {Category.ENCOUNTERS: "source unavailable: server error 500"}
    failed = snapshot(link, Category.ENCOUNTERS)
    assert (failed.status, failed.items) == (Snapshot.Status.FAILED, [])


def test_a_failed_refresh_keeps_earlier_items_with_their_age(record):
    link = record.links["gp"]
    fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True)
    before = snapshot(link, Category.ALLERGIES)
    record.servers["gp"].behaviour = Behaviour(fault="error_500")

    fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True)

    after = snapshot(link, Category.ALLERGIES)
    assert after.status == Snapshot.Status.FAILED
    assert (after.items, after.fetched_at) == (before.items, before.fetched_at)


def test_repeated_failures_pause_the_source_and_it_is_not_asked(record, settings):
    settings.LCR_CIRCUIT_FAILURES = 2
    link, server = record.links["acute"], record.servers["acute"]
    server.behaviour = Behaviour(fault="error_500")
    for _ in range(2):
        fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=False)
    asked = server.requests_served

    outcome = fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=False)

    assert server.requests_served == asked
    assert outcome.remaining == []
    assert outcome.failed[Category.ALLERGIES].startswith(
        "source unavailable: paused after repeated failures until"
    )


def test_after_the_cool_down_one_good_answer_closes_the_circuit(record, settings):
    settings.LCR_CIRCUIT_FAILURES = 1
    link, server = record.links["acute"], record.servers["acute"]
    server.behaviour = Behaviour(fault="error_500")
    fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=False)
    assert circuit.paused_until(link.source_id) is not None
    server.behaviour = Behaviour()

    later = timezone.now() + datetime.timedelta(seconds=settings.LCR_CIRCUIT_COOLDOWN_SECONDS + 1)
    with time_machine.travel(later, tick=True):
        outcome = fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=False)

    assert outcome.fresh == [Category.ALLERGIES]
    assert circuit.paused_until(link.source_id) is None


def test_refresh_asks_only_for_what_is_missing_or_stale(record, settings):
    link = record.links["gp"]
    fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True)

    asked = request_refresh(patient=record.patient, categories=[Category.ALLERGIES])
    assert link.pk not in asked  # fresh: nothing to do for the GP
    assert set(asked) == {
        record.links[k].pk for k in ("acute", "community", "mental_health", "social_care")
    }
    assert request_refresh(patient=record.patient, categories=[Category.ALLERGIES]) == []  # pending

    later = timezone.now() + datetime.timedelta(seconds=settings.LCR_SNAPSHOT_FRESH_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert is_stale(snapshot(link, Category.ALLERGIES))
        assert link.pk in request_refresh(patient=record.patient, categories=[Category.ALLERGIES])


def test_expired_snapshots_are_purged(record, settings):
    link = record.links["gp"]
    fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True)
    assert purge_expired_snapshots() == 0

    later = timezone.now() + datetime.timedelta(seconds=settings.LCR_SNAPSHOT_TTL_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert purge_expired_snapshots() == 1
    assert not Snapshot.objects.exists()


def test_unlinking_removes_what_was_fetched_through_the_link(record, reviewer):
    from records.services import unlink

    link = record.links["gp"]
    fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True)
    unlink(link=link, actor=reviewer)
    assert not Snapshot.objects.exists()
    assert (
        fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True).fresh == []
    )


def requests_by_type(server) -> dict[str, int]:
    return dict(server._requests)


def test_types_a_source_does_not_offer_are_not_asked_for(record):
    link, server = record.links["social_care"], record.servers["social_care"]
    fetch_link(link_id=link.pk, categories=list(ALL_CATEGORIES), final_attempt=True)
    asked = requests_by_type(server)
    assert "AllergyIntolerance" not in asked  # social care's CapabilityStatement leaves it out
    assert asked.get("CarePlan") == 1
    assert snapshot(link, Category.ALLERGIES).status == Snapshot.Status.FRESH


def test_a_claim_on_a_category_is_won_once(record):
    link = record.links["gp"]
    fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True)
    seen = snapshot(link, Category.ALLERGIES)
    now = timezone.now()

    assert _claim(link, Category.ALLERGIES, seen, now, "first")
    assert not _claim(link, Category.ALLERGIES, seen, now, "second")
    assert snapshot(link, Category.ALLERGIES).request_token == "first"


def test_an_overtaken_request_does_not_overwrite_a_newer_one(record):
    link = record.links["gp"]
    request_refresh(patient=record.patient, categories=[Category.ALLERGIES])
    old_token = snapshot(link, Category.ALLERGIES).request_token
    request_refresh(patient=record.patient, categories=[Category.ALLERGIES], force=True)

    fetch_link(
        link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True, token=old_token
    )

    assert snapshot(link, Category.ALLERGIES).status == Snapshot.Status.PENDING


def test_a_failed_category_is_not_asked_again_at_once(record, settings):
    link = record.links["acute"]
    record.servers["acute"].behaviour = Behaviour(fault="error_500")
    fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True)

    assert link.pk not in request_refresh(patient=record.patient, categories=[Category.ALLERGIES])
    later = timezone.now() + datetime.timedelta(seconds=settings.LCR_FETCH_FAILED_PAUSE_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert link.pk in request_refresh(patient=record.patient, categories=[Category.ALLERGIES])


def test_a_paused_source_is_not_sent_tasks(record, settings):
    settings.LCR_CIRCUIT_FAILURES = 1
    link = record.links["acute"]
    record.servers["acute"].behaviour = Behaviour(fault="error_500")
    fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=False)

    asked = request_refresh(patient=record.patient, categories=[Category.PROBLEMS])

    assert link.pk not in asked
    assert record.links["gp"].pk in asked


def test_after_the_cool_down_only_one_trial_is_let_through(record, settings):
    settings.LCR_CIRCUIT_FAILURES = 1
    source_id = record.links["acute"].source_id
    circuit.record_failure(source_id, "server error 500")
    later = timezone.now() + datetime.timedelta(seconds=settings.LCR_CIRCUIT_COOLDOWN_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert circuit.paused_until(source_id) is None  # the trial
        assert circuit.paused_until(source_id) is not None  # everyone else waits for it


def test_a_slow_answer_from_before_the_circuit_opened_does_not_close_it(record, settings):
    settings.LCR_CIRCUIT_FAILURES = 1
    source_id = record.links["acute"].source_id
    started = timezone.now()
    circuit.record_failure(source_id, "server error 500")
    circuit.record_success(source_id, attempt_started_at=started - datetime.timedelta(seconds=1))
    assert circuit.paused_among({source_id}) == {source_id}


def test_a_retry_after_longer_than_we_wait_pauses_the_source_and_fails_now(record):
    link = record.links["acute"]
    record.servers["acute"].behaviour = Behaviour(fault="rate_limit", retry_after=3600)

    outcome = fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=False)

    assert outcome.remaining == []
    assert outcome.failed[Category.ALLERGIES].startswith("source unavailable: asked us to wait")
    assert circuit.paused_among({link.source_id}) == {link.source_id}


@pytest.mark.parametrize(
    ("retries", "retry_after", "delay"),
    [(0, None, 2.0), (2, None, 8.0), (0, 7, 7), (10, None, 60.0)],
)
def test_retry_delay_backs_off_and_honours_retry_after(settings, retries, retry_after, delay):
    settings.LCR_FETCH_RETRY_BACKOFF_SECONDS = 2.0
    settings.LCR_FETCH_RETRY_BACKOFF_MAX_SECONDS = 60.0
    assert retry_delay(retries, retry_after) == delay


def test_a_switched_off_source_is_not_asked_and_its_data_is_withdrawn(record):
    link = record.links["gp"]
    fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True)
    link.source.enabled = False
    link.source.save()

    assert link.pk not in request_refresh(patient=record.patient, categories=[Category.ALLERGIES])
    withdrawn = snapshot(link, Category.ALLERGIES)
    assert (withdrawn.status, withdrawn.reason, withdrawn.items) == (
        Snapshot.Status.FAILED,
        "source is switched off",
        [],
    )


def test_if_the_task_queue_cannot_be_reached_the_requested_categories_say_so(record, monkeypatch):
    from celery.canvas import group as celery_group

    def broker_down(self, *args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(celery_group, "apply_async", broker_down)
    link = record.links["gp"]
    request_refresh(patient=record.patient, categories=[Category.ALLERGIES])
    _send([(link.pk, [Category.ALLERGIES], snapshot(link, Category.ALLERGIES).request_token)])

    failed = snapshot(link, Category.ALLERGIES)
    assert (failed.status, failed.reason) == (
        Snapshot.Status.FAILED,
        "could not reach the task queue",
    )


def test_refresh_record_command_shows_each_source_state_without_clinical_content(
    record, capsys, settings
):
    from django.core.management import call_command

    link = record.links["gp"]
    fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True)
    allergy = snapshot(link, Category.ALLERGIES).items[0]["title"]

    call_command(
        "refresh_record", record.patient.nhs_number, "--category", "allergies", "--wait", "0"
    )

    out = capsys.readouterr().out
    assert "Asked 4 source record(s) for 1 categories." in out
    assert f"{link.source.name}" in out and "up to date" in out
    assert "loading" in out  # the four sources asked just now
    assert allergy not in out


def test_an_unexpected_error_in_one_category_fails_it_with_a_reason_and_the_rest_are_fetched(
    record, monkeypatch, caplog
):
    from records.sources import fhir_adapter

    mapped = fhir_adapter.view_item

    def deep_bug(resource, *medications):
        if resource.get("resourceType") == "MedicationStatement":
            raise RecursionError("maximum recursion depth exceeded")
        return mapped(resource, *medications)

    monkeypatch.setattr(fhir_adapter, "view_item", deep_bug)
    link = record.links["gp"]
    categories = [Category.MEDICINES, Category.ALLERGIES]

    outcome = fetch_link(link_id=link.pk, categories=categories, final_attempt=True)

    assert outcome.failed == {Category.MEDICINES: UNEXPECTED}
    assert outcome.fresh == [Category.ALLERGIES]
    failed = snapshot(link, Category.MEDICINES)
    assert (failed.status, failed.reason) == (Snapshot.Status.FAILED, UNEXPECTED)
    assert "RecursionError" in caplog.text  # the details go to the log, not the page


def test_any_exception_in_the_task_leaves_what_was_asked_failed_with_a_reason(record, monkeypatch):
    from django.db import DataError

    from records import fetching
    from records.tasks import fetch_source_record

    def database_refuses(source, client):
        raise DataError("unsupported Unicode escape sequence")

    monkeypatch.setattr(fetching, "_capabilities", database_refuses)
    link = record.links["gp"]
    request_refresh(patient=record.patient, categories=[Category.ALLERGIES, Category.MEDICINES])
    token = snapshot(link, Category.ALLERGIES).request_token

    result = fetch_source_record.apply(
        args=(link.pk, [Category.ALLERGIES, Category.MEDICINES], token)
    )

    assert isinstance(result.result, DataError)
    states = set(Snapshot.objects.filter(link=link).values_list("status", "reason"))
    assert states == {(Snapshot.Status.FAILED, UNEXPECTED)}


def test_the_soft_time_limit_is_not_taken_for_an_error_in_one_category(record, monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    from records.sources import fhir_adapter
    from records.tasks import fetch_source_record

    def out_of_time(resource, *medications):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(fhir_adapter, "view_item", out_of_time)
    link = record.links["gp"]
    categories = [Category.ALLERGIES, Category.MEDICINES]
    request_refresh(patient=record.patient, categories=categories)
    token = snapshot(link, Category.ALLERGIES).request_token

    fetch_source_record.apply(args=(link.pk, categories, token))

    states = set(Snapshot.objects.filter(link=link).values_list("status", "reason"))
    assert states == {(Snapshot.Status.FAILED, "source unavailable: timed out")}


def test_an_exception_after_some_categories_were_saved_leaves_those_as_saved(record, monkeypatch):
    from records.tasks import fetch_source_record

    def bookkeeping_fails(source_id, attempt_started_at):
        raise RuntimeError("circuit bookkeeping failed")

    monkeypatch.setattr(circuit, "record_success", bookkeeping_fails)
    link = record.links["gp"]

    fetch_source_record.apply(args=(link.pk, [Category.ALLERGIES]))  # no token: sent by hand

    saved = snapshot(link, Category.ALLERGIES)
    assert (saved.status, saved.reason) == (Snapshot.Status.FRESH, "")
    assert saved.item_count > 0


def test_the_fetch_task_sent_by_name_is_the_registered_task():
    from lcr.celery import app
    from records.fetching import FETCH_TASK
    from records.tasks import fetch_source_record

    assert app.tasks[FETCH_TASK].name == fetch_source_record.name == FETCH_TASK


def test_every_form_of_reference_the_simulated_sources_send_is_shown_in_full(record):
    """Versioned, by NHS number, absolute and urn:uuid references (demo/reference_shapes.py)."""
    for link in record.links.values():
        outcome = fetch_link(link_id=link.pk, categories=list(ALL_CATEGORIES), final_attempt=True)
        assert outcome.failed == {}
    snapshots = Snapshot.objects.filter(link__in=record.links.values())
    assert not [
        (s.link.source.name, s.category, s.withheld_reason) for s in snapshots if s.withheld_count
    ]
    shown = {(s.link.source_id, s.category): s.item_count for s in snapshots}
    for key, category in (("gp", Category.PROBLEMS), ("acute", Category.DOCUMENTS),
                          ("social_care", Category.ENCOUNTERS),
                          ("community", Category.TEST_RESULTS)):  # fmt: skip
        assert shown[(record.sources[key].pk, category)] > 0


def test_the_simulated_hospital_mixes_up_one_persons_allergies_with_someone_elses(
    population, simulated_source
):
    from demo.reference_shapes import mixed_up_person

    person = mixed_up_person(population)
    record = link_everywhere(population, simulated_source, person)
    link = record.links["acute"]

    outcome = fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True)

    assert outcome.failed == {Category.ALLERGIES: WRONG_PATIENT}


def test_a_heading_never_asked_of_a_paused_source_says_why_rather_than_reading_as_empty(record):
    """A source in its cool-down is sent nothing; a heading it was never asked for gets the
    pause as its reason (the reviewer's case: allergies fetched, medicines never asked)."""
    link = record.links["gp"]
    fetch_link(link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True)
    circuit.pause(link.source_id, timezone.now() + datetime.timedelta(minutes=5), "test")

    asked = request_refresh(patient=record.patient, categories=[Category.MEDICINES])

    assert link.pk not in asked
    never_asked = snapshot(link, Category.MEDICINES)
    assert (never_asked.status, never_asked.reason) == (Snapshot.Status.FAILED, PAUSED)
    assert snapshot(link, Category.ALLERGIES).status == Snapshot.Status.FRESH


def test_a_switched_off_source_never_asked_for_a_heading_says_so_too(record):
    link = record.links["gp"]
    link.source.enabled = False
    link.source.save()

    request_refresh(patient=record.patient, categories=[Category.MEDICINES])

    assert snapshot(link, Category.MEDICINES).reason == "source is switched off"
