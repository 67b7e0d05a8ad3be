"""One look's deadline per source: the words a reader is told while a source is asked ("Asking",
"Retrying (2 of 3): server error 500", "Timed out after 8 s: showing what it sent 20 minutes
ago"), never "Loading" past the deadline; and the lease on a claim, taken again when it runs out."""

import datetime
import re

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone

from access.policy import actor_for
from audit.models import Channel
from care_record.reading import read_record
from records import deadlines, fetching, live
from records.categories import Category
from records.deadlines import asking_words, timed_out_words
from records.fetching import fail_overdue_fetches, reclaim_lost_fetches, request_refresh
from records.models import Snapshot
from tests.test_record_page import answered, gp_and_patient, linked, page  # noqa: F401

User = get_user_model()
NOW = datetime.datetime(2026, 12, 2, 13, 0, tzinfo=datetime.UTC)


def test_a_first_attempt_reads_asking():
    assert str(asking_words(attempt=1, retry_reason="", fetched_at=None, now=NOW)) == "Asking"
    assert str(asking_words(attempt=0, retry_reason="", fetched_at=None, now=NOW)) == "Asking"


def test_asking_again_says_what_is_shown_meanwhile_and_how_old_it_is():
    earlier = NOW - datetime.timedelta(minutes=5)
    words = asking_words(attempt=1, retry_reason="", fetched_at=earlier, now=NOW)
    assert str(words) == "Asking: showing what it sent 5\xa0minutes ago"


def test_a_retry_says_which_attempt_of_how_many_and_why(settings):
    settings.LCR_FETCH_MAX_RETRIES = 2
    words = asking_words(
        attempt=2, retry_reason="retrying: server error 500", fetched_at=None, now=NOW
    )
    assert (words.label, str(words)) == ("Retrying (2 of 3)", "Retrying (2 of 3): server error 500")
    assert words.brief == "Retrying (2 of 3)"


def test_a_retry_with_earlier_items_says_both(settings):
    settings.LCR_FETCH_MAX_RETRIES = 2
    earlier = NOW - datetime.timedelta(minutes=20)
    words = asking_words(attempt=3, retry_reason="retrying: timed out", fetched_at=earlier, now=NOW)
    assert str(words) == "Retrying (3 of 3): timed out; showing what it sent 20\xa0minutes ago"


def test_a_time_out_names_the_budget_and_what_is_shown_instead():
    earlier = NOW - datetime.timedelta(minutes=20)
    words = timed_out_words(budget_seconds=8, fetched_at=earlier, now=NOW)
    assert str(words) == "Timed out after 8 s: showing what it sent 20\xa0minutes ago"
    assert words.brief == "Timed out after 8 s"
    nothing = timed_out_words(budget_seconds=2.5, fetched_at=None, now=NOW)
    assert str(nothing) == "Timed out after 2.5 s: nothing to show"


def text(response) -> str:
    """The page's text as a reader sees it: markup and runs of spacing gone (a tag is an inline
    block, so the spacing inside it is not seen either)."""
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode()))
    return re.sub(r" ([:;])", r"\1", words)


@pytest.mark.django_db
def test_a_source_asked_reads_asking_then_timed_out_at_its_deadline_never_loading(
    gp_and_patient,  # noqa: F811
):
    client, patient = gp_and_patient
    link = linked(patient, "Royal London Hospital")
    answered(link, {}, minutes_ago=20)
    asked = timezone.now()
    with time_machine.travel(asked, tick=False):
        # Every heading drawn (as printed), so that no heading's own line is missed.
        before = text(page(client, patient, heading="all"))  # stale: asked again, earlier shown
    assert "Royal London Hospital: Asking: showing what it sent 20 minutes ago" in before
    assert "Loading" not in before

    with time_machine.travel(asked + datetime.timedelta(seconds=8.5), tick=False):
        late = page(client, patient, heading="all")
    words = text(late)
    assert (
        "Royal London Hospital: Timed out after 8 s: showing what it sent 20 minutes ago" in words
    )
    assert "Loading" not in words and "Asking" not in words
    assert 'hx-trigger="every 2s"' not in late.content.decode()  # settled: nothing to wait for


@pytest.mark.django_db
def test_a_source_with_its_own_budget_times_out_by_it(gp_and_patient):  # noqa: F811
    client, patient = gp_and_patient
    linked(patient, "Mile End Surgery GP", look_budget_seconds=3)
    asked = timezone.now()
    with time_machine.travel(asked, tick=False):
        assert "Mile End Surgery GP: Asking" in text(page(client, patient))
        gp = User.objects.get(username="gp")
        record = read_record(actor=actor_for(gp), patient=patient, channel=Channel.WEB)
    # A live page knows when to be drawn again, whether or not anything is saved by then.
    assert record.next_deadline == asked + datetime.timedelta(seconds=3)
    with time_machine.travel(asked + datetime.timedelta(seconds=3.1), tick=False):
        words = text(page(client, patient, heading="all"))
    assert "Mile End Surgery GP: Timed out after 3 s: nothing to show" in words
    # At each heading too, and the summary names the source that did not answer.
    assert "Mile End Surgery GP: 0 shown (timed out after 3 s)" in words
    assert "Mile End Surgery GP: source unavailable: timed out after 3 s" in words


@pytest.mark.django_db
def test_a_source_being_retried_says_so_with_the_attempt_and_the_reason(
    gp_and_patient,  # noqa: F811
    settings,
):
    settings.LCR_FETCH_MAX_RETRIES = 2
    client, patient = gp_and_patient
    link = linked(patient, "Royal London Hospital")
    request_refresh(patient=patient)
    Snapshot.objects.filter(link=link).update(
        attempt=2,
        reason="retrying: server error 500",
        lease_until=timezone.now() + datetime.timedelta(seconds=5),
    )
    words = text(page(client, patient, heading="all"))
    assert "Royal London Hospital: Retrying (2 of 3): server error 500" in words
    assert "Royal London Hospital: retrying (2 of 3): server error 500" in words  # at a heading


@pytest.mark.django_db
def test_a_claim_whose_lease_ran_out_is_taken_again_with_the_same_deadline(settings):
    from records.models import Link, MatchMethod
    from tests.factories import PatientFactory, SourceSystemFactory

    settings.LCR_FETCH_LEASE_SECONDS = 3
    patient = PatientFactory()
    link = Link.objects.create(
        patient=patient, source=SourceSystemFactory(), local_id="L1",
        matched_by=MatchMethod.NHS_NUMBER, confirmed_at=timezone.now(),
    )  # fmt: skip
    asked = timezone.now()
    with time_machine.travel(asked, tick=False):
        assert request_refresh(patient=patient, categories=[Category.ALLERGIES]) == [link.pk]
    first = Snapshot.objects.get(link=link)
    assert first.deadline_at == asked + datetime.timedelta(seconds=8)
    assert first.lease_until == asked + datetime.timedelta(seconds=3)

    # Within the lease, nothing is asked again; once it runs out (its worker was lost), it is.
    with time_machine.travel(asked + datetime.timedelta(seconds=2), tick=False):
        assert request_refresh(patient=patient, categories=[Category.ALLERGIES]) == []
    with time_machine.travel(asked + datetime.timedelta(seconds=4), tick=False):
        assert request_refresh(patient=patient, categories=[Category.ALLERGIES]) == [link.pk]
    again = Snapshot.objects.get(link=link)
    assert again.request_token != first.request_token
    assert again.deadline_at == first.deadline_at
    assert (again.attempt, again.reason) == (2, f"retrying: {deadlines.WORKER_LOST}")


@pytest.mark.django_db
def test_the_sweep_takes_again_lost_claims_and_ends_those_past_their_deadline(
    settings, monkeypatch
):
    from records.models import Link, MatchMethod
    from tests.factories import PatientFactory, SourceSystemFactory

    sent = []
    monkeypatch.setattr(fetching, "_send", lambda jobs, asked_by=None: sent.extend(jobs))
    settings.LCR_FETCH_LEASE_SECONDS = 3
    patient = PatientFactory()
    lost, slow = (
        Link.objects.create(
            patient=patient,
            source=SourceSystemFactory(look_budget_seconds=budget),
            local_id=f"L{budget}",
            matched_by=MatchMethod.NHS_NUMBER,
            confirmed_at=timezone.now(),
        )
        for budget in (8, 4)
    )
    asked = timezone.now()
    with time_machine.travel(asked, tick=False):
        request_refresh(patient=patient, categories=[Category.ALLERGIES])
    sent.clear()  # the look's own sends (on commit, not run here)

    with time_machine.travel(asked + datetime.timedelta(seconds=5), tick=False):
        assert reclaim_lost_fetches() == 1  # the slow source's deadline has passed: not asked
        assert fail_overdue_fetches() == 1
    assert [(link_id, categories) for link_id, categories, _ in sent] == [
        (lost.pk, [Category.ALLERGIES])
    ]
    assert Snapshot.objects.get(link=lost).request_token == sent[0][2]
    ended = Snapshot.objects.get(link=slow)
    assert (ended.status, ended.reason) == (
        Snapshot.Status.FAILED,
        "source unavailable: timed out after 4 s",
    )


@pytest.fixture
def acute(population, simulated_source):
    """Person 0 linked at the simulated acute hospital (real HTTP), and the hospital's server."""
    from tests.fetch_helpers import link_everywhere

    record = link_everywhere(population, simulated_source, population.people[0])
    return record.patient, record.links["acute"], record.servers["acute"]


def claim(patient, link, **source) -> str:
    if source:
        type(link.source).objects.filter(pk=link.source_id).update(**source)
    request_refresh(patient=patient, categories=[Category.ALLERGIES])
    return Snapshot.objects.get(link=link, category=Category.ALLERGIES).request_token


@pytest.mark.integration
@pytest.mark.django_db
def test_a_server_error_is_retried_within_the_budget_and_the_lease_covers_the_backoff(
    acute, settings, tmp_path, django_capture_on_commit_callbacks
):
    from demo.sources import Behaviour

    settings.LCR_FETCH_RETRY_BACKOFF_SECONDS = 1.0
    patient, link, server = acute
    server.behaviour = Behaviour(fault="error_500")
    token = claim(patient, link)

    settings.LCR_LIVE_URL = ""
    settings.LCR_LIVE_DIR = str(tmp_path / "live")
    with live.subscribe(patient.pk) as page:
        with django_capture_on_commit_callbacks(execute=True):
            outcome = fetching.fetch_link(
                link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=False, token=token
            )
        heard = page.wait(1.0)  # the open page hears of the retry, with nothing saved yet

    assert outcome.remaining == [Category.ALLERGIES] and heard is True
    waiting = Snapshot.objects.get(link=link, category=Category.ALLERGIES)
    assert waiting.updated_at > waiting.requested_at  # so that its next update carries it
    assert (waiting.status, waiting.attempt, waiting.reason) == (
        Snapshot.Status.PENDING,
        2,
        "retrying: server error 500",
    )
    # The retry waits a second: the lease lasts that and a lease more, or the sweep would take it.
    assert waiting.lease_until > timezone.now() + datetime.timedelta(seconds=3.5)


@pytest.mark.integration
@pytest.mark.django_db
def test_with_no_time_left_for_a_retry_the_source_fails_at_once_with_its_reason(acute, settings):
    from demo.sources import Behaviour

    settings.LCR_FETCH_RETRY_BACKOFF_SECONDS = 2.0
    patient, link, server = acute
    server.behaviour = Behaviour(fault="error_500")
    token = claim(patient, link, look_budget_seconds=2.5)

    outcome = fetching.fetch_link(
        link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=False, token=token
    )

    assert outcome.remaining == []
    assert outcome.failed == {Category.ALLERGIES: "source unavailable: server error 500"}


@pytest.mark.integration
@pytest.mark.django_db
def test_a_hanging_source_is_cut_off_at_the_look_deadline_not_its_own_timeout(acute):
    import time

    from demo.sources import Behaviour

    patient, link, server = acute
    server.behaviour = Behaviour(fault="timeout", hang_seconds=5)
    token = claim(patient, link, look_budget_seconds=1.5, timeout_seconds=4)

    started = time.monotonic()
    outcome = fetching.fetch_link(
        link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=False, token=token
    )

    assert time.monotonic() - started < 2.5
    assert outcome.failed == {Category.ALLERGIES: "source unavailable: timed out after 1.5 s"}


@pytest.mark.integration
@pytest.mark.django_db
def test_a_task_whose_claim_was_taken_again_does_nothing(acute):
    patient, link, server = acute
    old = claim(patient, link)
    Snapshot.objects.filter(link=link).update(request_token="taken-again")
    served = server.requests_served

    outcome = fetching.fetch_link(
        link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=True, token=old
    )

    assert (outcome.fresh, outcome.failed, server.requests_served) == ([], {}, served)


@pytest.mark.integration
@pytest.mark.django_db
def test_a_claim_taken_again_counts_its_attempts_so_the_last_is_not_retried(acute, settings):
    from demo.sources import Behaviour

    settings.LCR_FETCH_MAX_RETRIES = 2
    patient, link, server = acute
    server.behaviour = Behaviour(fault="error_500")
    token = claim(patient, link)
    Snapshot.objects.filter(link=link).update(attempt=3)  # claimed again twice after lost leases

    outcome = fetching.fetch_link(
        link_id=link.pk, categories=[Category.ALLERGIES], final_attempt=False, token=token
    )

    assert outcome.failed == {Category.ALLERGIES: "source unavailable: server error 500"}


def test_the_api_says_of_each_heading_what_the_page_says_of_a_source_being_retried():
    from types import SimpleNamespace

    from care_record.fhir_export import heading_issues
    from care_record.reading import HeadingSource
    from records.fetching import SourceState
    from records.models import SourceSystem

    source = SourceSystem(name="Royal London Hospital", ods_code="R1H")
    retrying = asking_words(
        attempt=2, retry_reason="retrying: server error 500", fetched_at=None, now=NOW, attempts=3
    )
    part = HeadingSource(source=source, state=SourceState.LOADING, words=retrying)
    heading = SimpleNamespace(category="allergies", label="Allergies", items=[], sources=[part])

    [issue] = heading_issues(SimpleNamespace(categories=[heading]))

    assert issue["details"]["text"] == (
        "Allergies from Royal London Hospital (R1H): retrying (2 of 3): server error 500"
    )
    assert (issue["severity"], issue["code"]) == ("information", "incomplete")
