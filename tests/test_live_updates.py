"""Live updates of an open record page: a saved snapshot is announced, the page's look receives
only what changed (pushed, or by its fallback poll), and no update is a look of its own."""

import csv
import datetime
import io
import os
import re
import threading

import pytest
import time_machine
from django.db import DatabaseError
from django.urls import reverse
from django.utils import timezone

from access import services
from access.models import Role, Team
from audit.models import AccessEvent, AppendOnlyError, LookUpdate
from records import live
from records.categories import ALL_CATEGORIES, Category
from records.fetching import request_refresh
from records.models import Link, MatchMethod, Snapshot
from tests.factories import PatientFactory, SourceSystemFactory, UserFactory, make_team, member

pytestmark = pytest.mark.django_db
STREAM = {"HTTP_ACCEPT": "text/event-stream"}
# Redis pub/sub is tried where CI gives a Redis (as the broker, or as LCR_LIVE_URL itself).
REDIS_URL = os.environ.get("LCR_LIVE_URL") or (
    os.environ.get("CELERY_BROKER_URL", "")
    if "redis://" in os.environ.get("CELERY_BROKER_URL", "")
    else ""
)
CHANNELS = ["files"] + (["redis"] if REDIS_URL else [])


@pytest.fixture
def live_files(settings, tmp_path):
    settings.LCR_LIVE_URL = ""
    settings.LCR_LIVE_DIR = str(tmp_path / "live")
    settings.LCR_LIVE_HEARTBEAT_SECONDS = 0.1
    settings.LCR_LIVE_STREAM_SECONDS = 1.0
    return settings


@pytest.fixture
def gp_look(client, live_files):
    """A GP with a relationship to a patient known to a hospital (answered a minute ago) and to
    the practice (not answered yet): the record page is still loading."""
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    gp = member(team, Role.GP, "gp")
    patient = PatientFactory(given_names="Grace", family_name="Okafor")
    relationship = services.start_relationship(
        patient=patient, team=team, kind="registered_gp", reason="registered",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    hospital = link(patient, "Royal London Hospital")
    for category in ALL_CATEGORIES:
        saved(hospital, category, minutes_ago=1)
    practice = link(patient, "Mile End Surgery GP")
    client.force_login(gp)
    return client, patient, practice, relationship


def link(patient, name):
    return Link.objects.create(
        patient=patient, source=SourceSystemFactory(name=name), local_id=f"L-{name}",
        matched_by=MatchMethod.NHS_NUMBER, confirmed_at=timezone.now(),
    )  # fmt: skip


def saved(link, category, *, title="", minutes_ago=0):
    """A snapshot as a fetch saves it (announced once committed), `minutes_ago` old."""
    when = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    items = [{"resource_type": "AllergyIntolerance", "resource_id": title, "title": title}]
    Snapshot.objects.update_or_create(
        link=link, category=category,
        defaults={
            "status": Snapshot.Status.FRESH, "items": items if title else [],
            "item_count": 1 if title else 0, "requested_at": when, "fetched_at": when,
            "expires_at": when + datetime.timedelta(hours=1),
        },
    )  # fmt: skip
    Snapshot.objects.filter(link=link, category=category).update(updated_at=when)
    live.snapshot_saved(patient_id=link.patient_id, link_id=link.pk, category=category)


HX = {"HTTP_HX_REQUEST": "true"}


def open_page(client, patient):
    page = client.get(reverse("patient-record", kwargs={"patient_id": patient.pk})).content.decode()
    address = re.search(r'data-live-updates="([^"]+)"', page)
    return page, address.group(1).replace("&amp;", "&") if address else None


def events(response) -> list[tuple[str, str]]:
    """The (event, data) pairs of a finished stream."""
    text = b"".join(response.streaming_content).decode()
    found = []
    for block in text.split("\n\n"):
        name = re.search(r"^event: (.*)$", block, re.M)
        if name:
            data = "\n".join(re.findall(r"^data: ?(.*)$", block, re.M))
            found.append((name.group(1), data))
    return found


def test_a_loading_record_page_names_its_look_for_updates_and_does_not_poll(gp_look):
    client, patient, _, _ = gp_look
    page, address = open_page(client, patient)
    look = AccessEvent.objects.get()
    assert f"look={look.pk}" in address
    assert 'hx-trigger="every 2s"' not in page
    assert "js/record-updates.js" in page
    assert f'name="look" value="{look.pk}"' in page  # "Refresh now" continues this look


def test_the_fallback_poll_sends_only_the_headings_saved_since_and_is_no_new_look(
    gp_look, django_capture_on_commit_callbacks
):
    client, patient, practice, _ = gp_look
    _, address = open_page(client, patient)
    saved(practice, Category.ALLERGIES, title="Penicillin", minutes_ago=0)

    update = client.get(address, HTTP_HX_REQUEST="true")

    body = update.content.decode()
    assert update.status_code == 200 and "<html" not in body
    assert 'id="record-sources"' in body and 'id="record-summary"' in body
    assert "Penicillin" in body  # in the summary
    # The page is told which headings changed, and fetches again those it has drawn.
    changed = re.search(r'data-headings="([^"]*)"', body).group(1).split()
    assert "allergies" in changed and 'id="nav-state-allergies"' in body
    assert 'id="category-allergies"' not in body  # no heading's table
    assert update["X-Record-Settled"] == "0" and update["Cache-Control"].startswith("max-age=0")
    look = AccessEvent.objects.get()
    # What the update showed beyond the look's event is named against it, once.
    shown = LookUpdate.objects.get()
    assert shown.look_id == look.pk
    assert shown.resource_ids == [f"{practice.source.ods_code}/AllergyIntolerance/Penicillin"]
    client.get(address, HTTP_HX_REQUEST="true")
    assert LookUpdate.objects.count() == 1  # nothing new the second time
    with pytest.raises(AppendOnlyError):
        LookUpdate.objects.filter(pk=shown.pk).update(resource_ids=[])


def test_the_stream_pushes_each_save_then_says_settled_and_writes_no_access_event(
    gp_look, django_capture_on_commit_callbacks
):
    client, patient, practice, _ = gp_look
    _, address = open_page(client, patient)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(address, **STREAM)  # subscribed, and read once
        for category in ALL_CATEGORIES:
            saved(practice, category, title="From the practice" if category == "allergies" else "")

    found = events(response)

    assert response["Content-Type"] == "text/event-stream"
    # (A first update may repeat what the page drew a moment before: the cursor's margin.)
    assert [name for name, _ in found][-2:] == ["update", "settled"] and len(found) <= 3
    update = found[-2][1]
    assert "From the practice" in update and "Up to date" in update
    assert "data-live-updates" not in update  # settled: the page stops listening
    assert AccessEvent.objects.count() == 1


def test_a_stream_with_no_news_re_reads_on_its_heartbeat_and_ends_for_the_page_to_reconnect(
    gp_look,
):
    client, patient, _, _ = gp_look
    _, address = open_page(client, patient)
    found = events(client.get(address, **STREAM))
    # Still loading and nothing new: heartbeats, then the end of the stream (at most a repeat of
    # what the page drew, within the cursor's margin), never "settled".
    assert [name for name, _ in found] in ([], ["update"])
    assert AccessEvent.objects.count() == 1


def test_a_save_from_another_thread_reaches_a_waiting_stream(live_files, tmp_path):
    with live.subscribe(7) as subscription:
        assert subscription.wait(0.05) is False
        threading.Timer(0.1, live._publish_now, args=(7, {"link": 1})).start()
        assert subscription.wait(2.0) is True
        assert subscription.wait(0.05) is False  # told once per save


@pytest.mark.integration
@pytest.mark.parametrize("channel", CHANNELS)
def test_each_channel_carries_a_committed_save_to_a_waiting_stream(
    gp_look, settings, django_capture_on_commit_callbacks, channel
):
    settings.LCR_LIVE_URL = REDIS_URL if channel == "redis" else ""
    client, patient, practice, _ = gp_look
    _, address = open_page(client, patient)
    with live.subscribe(patient.pk) as subscription:
        with django_capture_on_commit_callbacks(execute=True):
            saved(practice, Category.ALLERGIES, title="Latex")
            assert subscription.wait(0.2) is False  # not before the save is committed
        assert subscription.wait(2.0) is True
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(address, **STREAM)
        for category in ALL_CATEGORIES:
            saved(practice, category, title="Latex" if category == "allergies" else "")
    found = events(response)
    assert found[-1][0] == "settled" and "Latex" in found[-2][1]
    assert AccessEvent.objects.count() == 1


def test_a_source_switched_off_is_announced_through_the_snapshot_save(
    gp_look, django_capture_on_commit_callbacks
):
    _, patient, practice, _ = gp_look
    practice.source.enabled = False
    practice.source.save()
    with live.subscribe(patient.pk) as subscription:
        with django_capture_on_commit_callbacks(execute=True):
            request_refresh(patient=patient, categories=["allergies"])
        assert subscription.wait(0.5) is True


def test_updates_for_someone_elses_look_or_an_old_one_are_refused_with_a_clear_message(
    gp_look, settings
):
    settings.LCR_LOOK_OPEN_MINUTES = 5
    client, patient, _, _ = gp_look
    _, address = open_page(client, patient)
    other = PatientFactory()
    wrong_patient = address.replace(f"/patients/{patient.pk}/", f"/patients/{other.pk}/")
    assert client.get(wrong_patient).status_code == 404  # no relationship with them at all

    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=6)):
        old = client.get(address)
    assert old.status_code == 410 and "Open the record again" in old.content.decode()

    client.force_login(member(Team.objects.get(), Role.GP, "another-gp"))
    assert client.get(address).status_code == 410
    assert client.get(address.split("?")[0]).status_code == 400
    assert AccessEvent.objects.count() == 1


def test_updates_stop_when_the_relationship_ends_mid_look(gp_look):
    client, patient, _, relationship = gp_look
    _, address = open_page(client, patient)
    services.end_relationship(
        relationship=relationship, reason="moved away", actor=UserFactory(username="office2")
    )
    assert client.get(address).status_code == 404


def test_refresh_now_from_the_page_asks_again_within_the_same_look(
    gp_look, django_capture_on_commit_callbacks
):
    client, patient, _, _ = gp_look
    open_page(client, patient)
    look = AccessEvent.objects.get()
    here = reverse("patient-record", kwargs={"patient_id": patient.pk})
    with django_capture_on_commit_callbacks():  # the tasks are not sent
        update = client.post(here, {"look": look.pk}, HTTP_HX_REQUEST="true")
    body = update.content.decode()
    assert update.status_code == 200 and 'id="record-sources"' in body
    assert f"look={look.pk}" in body
    assert AccessEvent.objects.count() == 1


def test_a_look_held_open_a_minute_with_updates_arriving_is_one_access_event_and_one_report_row(
    gp_look,
):
    client, patient, practice, _ = gp_look
    with time_machine.travel(timezone.now(), tick=False) as clock:
        opened = timezone.now()
        _, address = open_page(client, patient)
        gp, look_id = AccessEvent.objects.values_list("user", "pk").get()
        here = reverse("patient-record", kwargs={"patient_id": patient.pk})
        cursor = ""
        for n in range(12):  # an answer every 5 seconds, for a minute
            clock.shift(datetime.timedelta(seconds=5))
            category = ALL_CATEGORIES[n % len(ALL_CATEGORIES)]
            saved(practice, category, title=f"Answer {n}")
            update = client.get(f"{address}&after={cursor}" if cursor else address)
            changed = re.search(r'data-headings="([^"]*)"', update.content.decode()).group(1)
            assert category in changed.split()
            # The page fetches the changed heading again (had it drawn it), within the look.
            heading = client.get(f"{here}?heading={category}&look={look_id}", **HX)
            assert f"Answer {n}" in heading.content.decode()
            cursor = update["X-Record-Cursor"]
        assert timezone.now() - opened == datetime.timedelta(minutes=1)
        looks = AccessEvent.objects.filter(patient=patient, user_id=gp)
        assert looks.count() == 1
        # Each answer is named as part of that look, not as a look of its own.
        named = LookUpdate.objects.filter(look_id=looks.get().pk).values_list("resource_ids")
        assert sorted(r.split("/")[-1] for (ids,) in named for r in ids) == sorted(
            f"Answer {n}" for n in range(12)
        )

        privacy = make_team("Privacy office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
        client.force_login(member(privacy, Role.PRIVACY_OFFICER, "officer"))
        url = reverse("audit-access-report", kwargs={"patient_id": patient.pk})
        report = client.get(url).content.decode()
        rows = client.get(url, {"format": "csv"}).streaming_content
    assert report.count("GP, Mile End Surgery") == 1  # the look, not its twelve updates
    looks = list(csv.DictReader(io.StringIO(b"".join(rows).decode())))
    users = [look["username"] for look in looks]
    assert users.count("gp") == 1 and set(users) == {"gp", "officer"}
    (gp_row,) = [look for look in looks if look["username"] == "gp"]
    assert gp_row["items_added_later"] == "12"


def test_a_source_lost_past_its_deadline_reads_timed_out_on_the_stream_by_that_deadline(
    gp_look, settings
):
    # The practice is asked (its task never runs: its worker lost) and nothing is ever saved;
    # the stream waits for news no longer than the deadline, not a heartbeat.
    settings.LCR_FETCH_LOOK_BUDGET_SECONDS = 0.5
    settings.LCR_LIVE_HEARTBEAT_SECONDS = 30
    settings.LCR_LIVE_STREAM_SECONDS = 10
    client, patient, _, _ = gp_look
    _, address = open_page(client, patient)
    started = timezone.now()

    found = events(client.get(address, **STREAM))

    assert [name for name, _ in found][-2:] == ["update", "settled"]
    assert timezone.now() - started < datetime.timedelta(seconds=3)
    update = found[-2][1]
    said = " ".join(re.sub(r"<[^>]+>", " ", update).split())
    assert "Mile End Surgery GP : Timed out after 0.5 s: nothing to show" in said
    # The headings' state in the navigation is redrawn too, and the page, told they changed,
    # fetches those it has drawn again: within the look, saying why.
    assert (
        'id="nav-state-allergies" class="lcr-nav-state" hx-swap-oob="true"> (incomplete)' in update
    )
    assert "Asking" not in update
    allergies = client.get(
        address.replace("updates/?", "?heading=allergies&").split("&after")[0], **HX
    ).content.decode()
    assert "Mile End Surgery GP: 0 shown (timed out after 0.5 s)" in allergies
    assert AccessEvent.objects.count() == 1


def test_a_news_file_grown_long_begins_afresh_and_that_is_news_too(live_files, monkeypatch):
    monkeypatch.setattr(live, "FILE_MAX_BYTES", 100)
    with live.subscribe(8) as subscription:
        for n in range(10):
            live._publish_now(8, {"link": n, "category": "allergies"})
            assert subscription.wait(0.5) is True
    assert live._file_of(8).stat().st_size < 200


def test_a_database_error_mid_stream_ends_the_stream_quietly_for_the_page_to_reconnect(
    gp_look, monkeypatch
):
    client, patient, _, _ = gp_look
    _, address = open_page(client, patient)
    response = client.get(address, **STREAM)

    def refused(**kwargs):
        raise DatabaseError("database is locked")

    monkeypatch.setattr("care_record.updates.read_record", refused)
    assert [name for name, _ in events(response)] in ([], ["update"])  # no error, no "ended"


def test_a_source_with_one_heading_failed_and_another_still_asked_keeps_the_page_listening(
    gp_look,
):
    client, patient, practice, _ = gp_look
    now = timezone.now()
    Snapshot.objects.create(
        link=practice, category=Category.ALLERGIES, status=Snapshot.Status.FAILED,
        reason="source unavailable: server error 500", requested_at=now, items=[],
        expires_at=now + datetime.timedelta(hours=1),
    )  # fmt: skip
    for category in ALL_CATEGORIES:
        if category != Category.ALLERGIES:
            Snapshot.objects.create(
                link=practice, category=category, status=Snapshot.Status.PENDING,
                requested_at=now, deadline_at=now + datetime.timedelta(seconds=8),
                lease_until=now + datetime.timedelta(seconds=3), items=[],
                expires_at=now + datetime.timedelta(hours=1),
            )  # fmt: skip

    _, address = open_page(client, patient)

    # The practice's worst state is "unavailable", but its medicines are still on their way.
    assert address is not None
    assert client.get(address)["X-Record-Settled"] == "0"


def test_the_poll_redraws_a_heading_timed_out_by_its_deadline_while_another_source_is_asked(
    gp_look, settings
):
    client, patient, practice, _ = gp_look
    hospital = Link.objects.exclude(pk=practice.pk).get()
    type(hospital.source).objects.filter(pk=hospital.source_id).update(look_budget_seconds=20)
    Snapshot.objects.filter(link=hospital, category=Category.MEDICINES).update(
        fetched_at=timezone.now() - datetime.timedelta(hours=1)
    )  # stale: asked again, with a deadline of 20 s
    settings.LCR_FETCH_LOOK_BUDGET_SECONDS = 3  # the practice's
    start = timezone.now()
    open_page(client, patient)  # asks both
    with time_machine.travel(start + datetime.timedelta(seconds=1.5)):
        _, address = open_page(client, patient)  # a later look: the practice still asked
    assert address is not None

    with time_machine.travel(start + datetime.timedelta(seconds=4)):
        update = client.get(address)  # past the practice's deadline; nothing saved since

    body = update.content.decode()
    assert update["X-Record-Settled"] == "0"  # the hospital is still asked
    assert "allergies" in re.search(r'data-headings="([^"]*)"', body).group(1).split()
    with time_machine.travel(start + datetime.timedelta(seconds=4)):
        allergies = client.get(
            address.replace("updates/?", "?heading=allergies&").split("&after")[0], **HX
        ).content.decode()
    assert "Mile End Surgery GP: 0 shown (timed out after 3 s)" in allergies
    assert AccessEvent.objects.count() == 2
