"""Identity sync against simulated sources over real HTTP: link, queue, refuse, never half-write."""

import logging
import time

import pytest
from auditlog.models import LogEntry
from django.core.management import CommandError, call_command

from demo.load import register_population, register_sources
from demo.pds_people import superseded_numbers
from demo.sources import Behaviour
from records.identity_sync import sync_source_identities
from records.models import IdentitySyncRun, Link, MatchMethod, SourceSystem, UnmatchedRecord
from records.services import SYSTEM_USERNAME
from records.sources.errors import SourceUnavailable
from records.tasks import sync_identities

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def register(population):
    register_population(population)
    return population


def source_row(population, server, key: str) -> SourceSystem:
    spec = population.source(key)
    return SourceSystem.objects.create(
        ods_code=spec.ods_code,
        name=spec.name,
        kind=spec.kind,
        base_url=server.base_url,
        timeout_seconds=2.0,
    )


def test_sync_links_every_gp_patient_by_nhs_number(register, simulated_source, settings):
    settings.LCR_SOURCE_PAGE_SIZE = 7  # several pages
    server = simulated_source("gp")
    source = source_row(register, server, "gp")

    run = sync_source_identities(source_id=source.pk)

    people = register.people_at("gp")
    assert run.status == IdentitySyncRun.Status.SUCCEEDED
    assert (run.seen, run.linked, run.queued, run.rejected) == (len(people), len(people), 0, 0)
    links = {(link.local_id, link.patient.nhs_number) for link in source.links.select_related()}
    assert links == {(person.local_ids["gp"], person.nhs_number) for person in people}
    assert set(source.links.values_list("matched_by", flat=True)) == {MatchMethod.NHS_NUMBER}


def test_sync_twice_links_nothing_twice(register, simulated_source):
    source = source_row(register, simulated_source("gp"), "gp")
    sync_source_identities(source_id=source.pk)
    count = Link.objects.count()

    again = sync_source_identities(source_id=source.pk)

    assert Link.objects.count() == count
    assert (again.linked, again.already_linked) == (0, count)


def test_social_care_records_without_nhs_number_wait_for_review_with_the_right_candidate_first(
    register, simulated_source
):
    source = source_row(register, simulated_source("social_care"), "social_care")

    run = sync_source_identities(source_id=source.pk)

    without_number = [
        person
        for person in register.people_at("social_care")
        if person.source_views["social_care"].nhs_number is None
    ]
    assert without_number, "the demo population must exercise matching"
    # And, with PDS not asked, those social care still holds under a superseded number.
    assert run.queued == len(without_number) + len(superseded_numbers(register))
    for person in without_number:
        local_id = person.local_ids["social_care"]
        record = UnmatchedRecord.objects.get(source=source, local_id=local_id)
        assert record.reason == UnmatchedRecord.Reason.NO_NHS_NUMBER
        top = record.candidates.first()
        assert top is not None, f"no candidate for {person.display_name}"
        assert top.patient.nhs_number == person.nhs_number
    assert not Link.objects.filter(
        local_id__in=[p.local_ids["social_care"] for p in without_number]
    ).exists()


def test_sync_links_are_audited_as_the_identity_sync_account(register, simulated_source):
    source = source_row(register, simulated_source("gp"), "gp")
    sync_source_identities(source_id=source.pk)
    entry = LogEntry.objects.get_for_object(Link.objects.first()).get()
    assert entry.actor.username == SYSTEM_USERNAME


@pytest.mark.parametrize(
    ("fault", "reason", "retried"),
    [
        ("malformed_json", "response is not valid JSON", False),
        ("error_500", "server error 500", True),
        ("rate_limit", "too many requests", True),
        ("fail_mid_paging", "server error 500", True),
    ],
)
def test_a_broken_answer_fails_the_run_and_links_nobody(
    register, simulated_source, settings, caplog, fault, reason, retried
):
    settings.LCR_SOURCE_PAGE_SIZE = 10
    server = simulated_source("gp")
    server.behaviour = Behaviour(fault=fault)
    source = source_row(register, server, "gp")

    with caplog.at_level(logging.WARNING, logger="records.identity_sync"):
        if retried:  # unavailable: raised, so that the Celery task retries
            with pytest.raises(SourceUnavailable, match=reason):
                sync_source_identities(source_id=source.pk)
        else:
            sync_source_identities(source_id=source.pk)

    run = IdentitySyncRun.objects.get(source=source)
    assert run.status == IdentitySyncRun.Status.FAILED
    assert run.error == reason
    assert not Link.objects.exists()
    assert not UnmatchedRecord.objects.exists()
    assert reason in caplog.text


def test_a_timeout_fails_the_run_with_the_reason(register, simulated_source):
    server = simulated_source("gp")
    server.behaviour = Behaviour(fault="timeout", hang_seconds=3)
    source = source_row(register, server, "gp")
    source.timeout_seconds = 0.5
    source.save()

    with pytest.raises(SourceUnavailable, match="timed out"):
        sync_source_identities(source_id=source.pk)

    assert IdentitySyncRun.objects.get(source=source).error == "timed out"
    assert not Link.objects.exists()


def test_a_source_that_refuses_connections_fails_the_run(register):
    source = SourceSystem.objects.create(
        ods_code="GONE", name="Gone", kind="acute", base_url="http://127.0.0.1:9/fhir"
    )
    with pytest.raises(SourceUnavailable, match="could not connect"):
        sync_source_identities(source_id=source.pk)
    assert IdentitySyncRun.objects.get(source=source).status == IdentitySyncRun.Status.FAILED


def test_invalid_fhir_resources_are_refused_with_a_logged_reason_and_the_rest_linked(
    register, simulated_source, settings, caplog
):
    settings.LCR_SOURCE_PAGE_SIZE = 10
    server = simulated_source("gp")
    server.behaviour = Behaviour(fault="invalid_fhir")
    source = source_row(register, server, "gp")

    with caplog.at_level(logging.WARNING, logger="records.identity_sync"):
        run = sync_source_identities(source_id=source.pk)

    people = register.people_at("gp")
    broken = people[0::2]  # every other entry of each page of ten
    assert run.status == IdentitySyncRun.Status.SUCCEEDED
    assert run.rejected == len(broken)
    assert run.linked == len(people) - len(broken) == Link.objects.count()
    reasons = {item["reason"] for item in run.rejections}
    assert reasons == {"not a Patient resource", "invalid FHIR Patient"}
    assert "birthDate" in " ".join(item["detail"] for item in run.rejections)
    assert caplog.text.count("rejected resource") == len(broken)
    linked_ids = set(Link.objects.values_list("local_id", flat=True))
    assert not linked_ids & {person.local_ids["gp"] for person in broken}


def test_a_switched_off_source_is_not_asked(register, simulated_source):
    server = simulated_source("gp")
    source = source_row(register, server, "gp")
    source.enabled = False
    source.save()

    run = sync_source_identities(source_id=source.pk)

    assert run.error == "source is switched off"
    assert not Link.objects.exists()


def test_management_command_reports_counts_and_fails_for_an_unreachable_source(
    register, simulated_source, capsys
):
    source_row(register, simulated_source("gp"), "gp")
    SourceSystem.objects.create(
        ods_code="GONE", name="Gone", kind="acute", base_url="http://127.0.0.1:9/fhir"
    )

    with pytest.raises(CommandError, match="1 source"):
        call_command("sync_identities")

    out, err = capsys.readouterr()
    assert f"{len(register.people_at('gp'))} linked" in out
    assert "Gone: unavailable: could not connect" in err


def test_celery_worker_syncs_every_source_in_parallel(
    population, simulated_source, celery_worker, transactional_db
):
    register_population(population)
    servers = {key: simulated_source(key) for key in ("gp", "acute", "social_care")}
    for key, server in servers.items():
        source_row(population, server, key)

    for source in SourceSystem.objects.all():
        sync_identities.delay(source.pk)
    _wait_for(lambda: IdentitySyncRun.objects.filter(status="succeeded").count() == 3)

    for key in servers:
        source = SourceSystem.objects.get(ods_code=population.source(key).ods_code)
        known = population.people_at(key)
        linked_or_queued = source.links.count() + source.unmatched.count()
        assert linked_or_queued == len(known)


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the worker")


def test_register_sources_points_each_source_at_its_port(population):
    sources = register_sources(population, host="127.0.0.1", base_port=9100)
    assert [s.base_url for s in sources] == [f"http://127.0.0.1:{9100 + i}/fhir" for i in range(5)]


def test_queued_sync_runs_on_the_worker_for_every_enabled_source(
    population, simulated_source, celery_worker, capsys
):
    register_population(population)
    source_row(population, simulated_source("gp"), "gp")
    source_row(population, simulated_source("community"), "community")

    call_command("sync_identities", "--queue")

    assert capsys.readouterr().out.count(": queued") == 2
    _wait_for(lambda: IdentitySyncRun.objects.filter(status="succeeded").count() == 2)
    assert Link.objects.count() == len(population.people_at("gp")) + len(
        population.people_at("community")
    )
