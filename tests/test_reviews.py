"""Reviews a privacy officer can defend: a flag needs a note, every review is kept and shown, the
queue filters and exports, and each alert opens the looks behind it (recorded as looks)."""

import csv
import datetime
import io
from importlib import import_module

import psycopg
import pytest
import time_machine
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

from access import services
from access.exceptions import ReviewError
from access.models import BreakGlassAccess, BreakGlassReview, ReviewHistoryError, Role, Team
from access.policy import actor_for
from audit.integrity import verify_trail
from audit.models import AccessEvent
from tests.factories import PatientFactory, UserFactory, a_look, make_team, member

pytestmark = pytest.mark.django_db

Review = BreakGlassAccess.Review


@pytest.fixture
def office(client):
    """An A&E doctor who broke glass for a patient; two privacy officers; the first signed in."""
    ae = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    privacy = make_team("Privacy office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    doctor = member(ae, Role.AE_CLINICIAN, "doctor")
    doctor.first_name, doctor.last_name = "Dana", "Reyes"
    doctor.save()
    first, second = (member(privacy, Role.PRIVACY_OFFICER, name) for name in ("pat", "sam"))
    patient = PatientFactory(family_name="Okafor", given_names="Ngozi")
    access = services.break_glass(
        user=doctor, team=ae, patient=patient, reason="unconscious", explanation="brought in by ED"
    )
    client.force_login(first)
    return {
        "client": client, "access": access, "doctor": doctor, "ae": ae, "patient": patient,
        "officers": (first, second), "privacy": privacy,
    }  # fmt: skip


def review(office, officer, outcome, note):
    return services.review_break_glass(
        access=office["access"],
        outcome=outcome,
        note=note,
        actor=actor_for(officer, office["privacy"].pk),
    )


def post_review(client, access, outcome, note, **extra):
    return client.post(
        reverse("audit-review-break-glass", kwargs={"access_id": access.pk}),
        {"outcome": outcome, "note": note, **extra},
    )


def test_a_flag_without_a_note_is_refused_on_the_form_and_nothing_is_recorded(office):
    client, access = office["client"], office["access"]
    response = post_review(client, access, "flagged", "   ")
    assert response.status_code == 400
    body = response.content.decode()
    assert "There is a problem" in body
    assert "Say why you are flagging this access for investigation." in body
    assert 'href="#id_note"' in body  # the error summary points at the note
    access.refresh_from_db()
    assert (access.review, access.reviewed_by, access.reviewed_at) == (Review.PENDING, None, None)
    assert not BreakGlassReview.objects.exists()

    with pytest.raises(ReviewError, match="Say why") as refused:
        review(office, office["officers"][0], "flagged", "")
    assert refused.value.field == "note"
    assert not BreakGlassReview.objects.exists()


def test_appropriate_needs_no_note_and_the_queue_form_returns_to_the_queue(office):
    client, access = office["client"], office["access"]
    response = post_review(client, access, "approved", "", back="queue")
    assert response["Location"] == reverse("audit-review-queue")
    kept = BreakGlassReview.objects.get()
    assert (kept.decision, kept.note, kept.reviewed_by) == ("approved", "", office["officers"][0])


def test_every_review_is_kept_and_shown_on_the_access_page(office):
    client, access = office["client"], office["access"]
    second = office["officers"][1]
    assert post_review(client, access, "flagged", "no A&E attendance found").status_code == 302
    client.force_login(second)
    assert post_review(client, access, "flagged", "asked the ward manager").status_code == 302
    assert (
        post_review(client, access, "confirmed", "no clinical reason; HR told").status_code == 302
    )

    access.refresh_from_db()
    assert (access.review, access.reviewed_by, access.review_note) == (
        "confirmed", second, "no clinical reason; HR told",
    )  # fmt: skip
    history = list(access.reviews.values_list("decision", "reviewed_by__username", "note"))
    assert history == [
        ("flagged", "pat", "no A&E attendance found"),
        ("flagged", "sam", "asked the ward manager"),
        ("confirmed", "sam", "no clinical reason; HR told"),
    ]
    page = client.get(reverse("audit-break-glass", kwargs={"access_id": access.pk}))
    body = page.content.decode()
    for note in ("no A&amp;E attendance found", "asked the ward manager", "HR told"):
        assert note in body
    assert "Investigated: not appropriate" in body and "Flagged for investigation" in body
    assert "Dana Reyes (doctor)" in body and "brought in by ED" in body
    assert reverse("audit-access-report", kwargs={"patient_id": office["patient"].pk}) in body
    assert "Okafor" not in body and office["patient"].nhs_number not in body  # names no patient


def test_which_decision_may_follow_is_the_services_rule(office):
    first = office["officers"][0]
    with pytest.raises(ReviewError, match="Choose appropriate or flag"):
        review(office, first, "cleared", "nothing yet to conclude")
    review(office, first, "approved", "")
    with pytest.raises(ReviewError, match="only be flagged for investigation again"):
        review(office, first, "approved", "")
    with pytest.raises(ReviewError, match="Say why"):  # reopening needs its reason too
        review(office, first, "flagged", "")
    review(office, first, "flagged", "the patient asked about this look")
    with pytest.raises(ReviewError, match="Say what the investigation found"):
        review(office, first, "cleared", "")
    with pytest.raises(ReviewError, match="under investigation"):
        review(office, first, "approved", "")
    review(office, first, "cleared", "consultant confirmed the emergency")
    assert list(office["access"].reviews.values_list("decision", flat=True)) == [
        "approved", "flagged", "cleared",
    ]  # fmt: skip


def test_a_page_offers_only_the_decisions_that_may_follow(office):
    client, access = office["client"], office["access"]
    url = reverse("audit-break-glass", kwargs={"access_id": access.pk})
    assert 'value="approved"' in client.get(url).content.decode()
    review(office, office["officers"][0], "flagged", "check the rota")
    body = client.get(url).content.decode()
    assert 'value="approved"' not in body
    assert "Investigation concluded: appropriate" in body
    assert "Still under investigation" in body


def test_nobody_reviews_their_own_emergency_access_on_the_page(office):
    client, access = office["client"], office["access"]
    privacy = office["privacy"]
    services.add_member(
        team=privacy, user=office["doctor"], role=Role.PRIVACY_OFFICER, reason="r",
        actor=UserFactory(),
    )  # fmt: skip
    client.force_login(office["doctor"])
    client.post(reverse("choose-team"), {"team": privacy.pk})
    body = client.get(reverse("audit-break-glass", kwargs={"access_id": access.pk})).content
    assert b"another privacy officer reviews it" in body
    response = post_review(client, access, "approved", "")
    assert "Nobody reviews their own emergency access." in response.content.decode()
    assert not BreakGlassReview.objects.exists()


def test_the_review_history_cannot_be_changed_or_removed(office):
    kept = review(office, office["officers"][0], "flagged", "why").reviews.get()
    kept.note = "something else"
    with pytest.raises(ReviewHistoryError):
        kept.save()
    with pytest.raises(ReviewHistoryError):
        kept.delete()
    with pytest.raises(ReviewHistoryError):
        BreakGlassReview.objects.update(note="x")
    with pytest.raises(ReviewHistoryError):
        BreakGlassReview.objects.all().delete()


def test_the_data_migration_makes_each_earlier_review_its_first_row(office):
    """An access reviewed before the history existed (review on the row only) gets its row."""
    officer = office["officers"][0]
    reviewed_at = timezone.now() - datetime.timedelta(days=3)
    BreakGlassAccess.objects.filter(pk=office["access"].pk).update(
        review="flagged", reviewed_by=officer, reviewed_at=reviewed_at, review_note="old note"
    )
    pending = services.break_glass(
        user=office["doctor"], team=office["ae"], patient=PatientFactory(), reason="other",
        explanation="x",
    )  # fmt: skip
    migration = import_module("access.migrations.0008_break_glass_reviews")
    migration.first_reviews(apps, None)
    migration.first_reviews(apps, None)  # run again: nothing doubled
    row = BreakGlassReview.objects.get()
    assert (row.access_id, row.decision, row.note, row.reviewed_by, row.reviewed_at) == (
        office["access"].pk, "flagged", "old note", officer, reviewed_at,
    )  # fmt: skip
    assert not pending.reviews.exists()


@pytest.fixture
def queue(office):
    """Four more emergency accesses, of two teams, reasons and states, on different days."""
    ward = make_team("Riverside ward", Team.Kind.AE_DEPARTMENT, ods_code="RWW")
    nurse = member(ward, Role.AE_CLINICIAN, "nurse")
    first = office["officers"][0]
    made = {"first": office["access"]}
    for name, user, team, reason, days_ago in [
        ("old", nurse, ward, "safeguarding", 20),
        ("flagged", nurse, ward, "other", 10),
        ("approved", office["doctor"], office["ae"], "other", 5),
    ]:
        with time_machine.travel(timezone.now() - datetime.timedelta(days=days_ago)):
            made[name] = services.break_glass(
                user=user, team=team, patient=PatientFactory(), reason=reason,
                explanation=f"{name} access",
            )  # fmt: skip
    privacy = office["privacy"].pk
    services.review_break_glass(
        access=made["flagged"], outcome="flagged", note="ask", actor=actor_for(first, privacy)
    )
    services.review_break_glass(
        access=made["approved"], outcome="approved", note="", actor=actor_for(first, privacy)
    )
    return made


def shown(client, **filters) -> set[str]:
    body = client.get(reverse("audit-review-queue"), filters).content.decode()
    names = {name for name in ("old", "flagged", "approved") if f"{name} access" in body}
    return names | ({"first"} if "brought in by ED" in body else set())


def test_the_queue_filters_by_state_date_organisation_user_and_reason(office, queue):
    client = office["client"]
    assert shown(client) == {"first", "old"}  # waiting for review
    assert shown(client, state="flagged") == {"flagged"}
    assert shown(client, state="reviewed") == {"approved"}
    assert shown(client, state="all") == {"first", "old", "flagged", "approved"}
    today = timezone.localdate()
    week_ago = (today - datetime.timedelta(days=7)).strftime("%d/%m/%Y")
    assert shown(client, state="all", started_from=week_ago) == {"first", "approved"}
    assert shown(client, state="all", started_to=week_ago) == {"old", "flagged"}
    assert shown(client, state="all", organisation="rww") == {"old", "flagged"}
    assert shown(client, state="all", organisation="thameside") == {"first", "approved"}
    assert shown(client, state="all", user="nurse") == {"old", "flagged"}
    assert shown(client, state="all", user="Reyes") == {"first", "approved"}
    assert shown(client, state="all", reason="other") == {"flagged", "approved"}


def test_a_bad_filter_gets_a_clear_error(office):
    client = office["client"]
    response = client.get(
        reverse("audit-review-queue"), {"started_from": "32/13/2026", "started_to": "1/1/2026"}
    )
    assert response.status_code == 400
    assert "The first day must be a real date" in response.content.decode()
    backwards = client.get(
        reverse("audit-review-queue"), {"started_from": "2/1/2026", "started_to": "1/1/2026"}
    )
    assert "The last day must be on or after the first day." in backwards.content.decode()
    export = client.get(reverse("audit-review-queue-csv"), {"reason": "made-up"})
    assert export.status_code == 400


def test_the_queue_exports_as_csv_with_the_rows_the_filter_shows(office, queue):
    response = office["client"].get(reverse("audit-review-queue-csv"), {"state": "all"})
    assert response["Content-Type"].startswith("text/csv")
    assert "no-store" in response["Cache-Control"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "access id", "started at", "expires at", "username", "name", "team", "organisation",
        "reason", "explanation", "state", "reviews", "last reviewed at", "last reviewed by",
        "last note",
    ]  # fmt: skip
    by_id = {int(row[0]): row for row in rows[1:]}
    assert set(by_id) == {access.pk for access in queue.values()}
    flagged = by_id[queue["flagged"].pk]
    nurse = queue["flagged"].user
    assert flagged[3:11] == [
        "nurse", nurse.get_full_name(), "Riverside ward", "RWW", "Other (say why)",
        "flagged access", "Flagged for investigation", "1",
    ]  # fmt: skip
    assert flagged[12:] == ["pat", "ask"]
    assert by_id[queue["first"].pk][9:11] == ["Waiting for review", "0"]
    patient = office["patient"]
    text = b"".join(
        office["client"].get(reverse("audit-review-queue-csv"), {"state": "all"}).streaming_content
    ).decode()
    assert patient.family_name not in text and patient.nhs_number not in text

    waiting = office["client"].get(reverse("audit-review-queue-csv"))
    ids = [row[0] for row in csv.reader(io.StringIO(b"".join(waiting.streaming_content).decode()))]
    assert ids[1:] == [str(queue["old"].pk), str(queue["first"].pk)]  # oldest first


def test_the_queue_is_drawn_in_bounded_queries(office, django_assert_max_num_queries):
    for _ in range(15):
        services.break_glass(
            user=office["doctor"], team=office["ae"], patient=PatientFactory(), reason="other",
            explanation="again",
        )  # fmt: skip
    # The session, the user, their memberships; the alerts' four; the queue, with its reviews.
    with django_assert_max_num_queries(12):
        page = office["client"].get(reverse("audit-review-queue"), {"state": "all"})
    assert page.content.decode().count("Details and reviews") == 16


@pytest.fixture
def nights(office):
    """A GP's looks at three patients at night and one by day, yesterday; another GP's at night."""
    practice = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    gp, other = member(practice, Role.GP, "gp"), member(practice, Role.GP, "othergp")
    gp.first_name, gp.last_name = "Gita", "Patel"
    gp.save()
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    at = lambda hour, minute=0: timezone.make_aware(  # noqa: E731
        datetime.datetime.combine(yesterday, datetime.time(hour, minute))
    )
    night = [PatientFactory(family_name=f"Night{n}") for n in range(3)]
    day, others = PatientFactory(family_name="Daytime"), PatientFactory(family_name="Elsewhere")
    for patient, moment in [
        (night[0], at(22, 10)), (night[1], at(22, 40)), (night[2], at(5, 30)),
        (night[0], at(23, 5)), (day, at(10, 0)),
    ]:  # fmt: skip
        with time_machine.travel(moment, tick=False):
            a_look(patient, gp)
    with time_machine.travel(at(22, 0), tick=False):
        a_look(others, other)
    return {"gp": gp, "night": night, "day": day, "others": others}


def evidence_url(kind, user):
    return reverse("audit-alert-evidence", kwargs={"kind": kind, "user_id": user.pk})


def test_the_out_of_hours_alert_links_to_the_looks_behind_it_and_only_those(office, nights):
    client, gp = office["client"], nights["gp"]
    queue_page = client.get(reverse("audit-review-queue")).content.decode()
    assert "Gita Patel (gp) looked 4 times at records out of hours (8pm to 7am)." in queue_page
    assert evidence_url("out-of-hours", gp) in queue_page

    page = client.get(evidence_url("out-of-hours", gp))
    assert page.status_code == 200
    body = page.content.decode()
    assert ": 4 looks." in body
    for patient in nights["night"]:
        assert patient.family_name.upper() in body and patient.formatted_nhs_number in body
        assert reverse("audit-access-report", kwargs={"patient_id": patient.pk}) in body
    assert "DAYTIME" not in body and "ELSEWHERE" not in body
    assert "10pm to 11pm" in body and "11pm to midnight" in body and "5am to 6am" in body
    assert "10am to 11am" not in body

    # Opening it is a privacy review look at each patient it names, and at nobody else.
    recorded = AccessEvent.objects.filter(username="pat")
    assert sorted(event.patient_id for event in recorded) == sorted(p.pk for p in nights["night"])
    assert {(e.username, e.basis, tuple(e.categories)) for e in recorded} == {
        ("pat", "privacy_review", ("details",))
    }
    assert verify_trail().problems == []


def test_the_emergency_access_alert_lists_the_accesses_and_the_looks_under_them(office):
    client, doctor = office["client"], office["doctor"]
    for _ in range(2):
        services.break_glass(
            user=doctor, team=office["ae"], patient=PatientFactory(), reason="other",
            explanation="again",
        )  # fmt: skip
    client.force_login(doctor)
    client.get(reverse("patient-record", kwargs={"patient_id": office["patient"].pk}))
    client.force_login(office["officers"][0])
    assert (
        "Dana Reyes (doctor) used emergency access 3 times."
        in client.get(reverse("audit-review-queue")).content.decode()
    )
    body = client.get(evidence_url("emergency-access", doctor)).content.decode()
    assert body.count(reverse("audit-break-glass", kwargs={"access_id": office["access"].pk})) == 2
    assert "OKAFOR" in body and ": 1 look." in body


def test_evidence_refuses_a_bad_period_an_unknown_alert_or_professional(office, nights):
    client, gp = office["client"], nights["gp"]
    too_long = {"first": "1/1/2026", "last": "1/6/2026"}
    assert client.get(evidence_url("out-of-hours", gp), too_long).status_code == 400
    assert client.get(evidence_url("out-of-hours", gp), {"first": "tomorrow"}).status_code == 400
    assert client.get(evidence_url("made-up", gp)).status_code == 404
    assert (
        client.get(
            reverse("audit-alert-evidence", kwargs={"kind": "out-of-hours", "user_id": 10**9})
        ).status_code
        == 404
    )
    old = (timezone.localdate() - datetime.timedelta(days=30)).strftime("%d/%m/%Y")
    earlier = client.get(evidence_url("out-of-hours", gp), {"first": old, "last": old})
    assert "No looks of this kind in these days." in earlier.content.decode()


def test_the_evidence_page_is_drawn_in_bounded_queries(
    office, nights, django_assert_max_num_queries
):
    gp = nights["gp"]
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    for n in range(60):
        moment = timezone.make_aware(datetime.datetime.combine(yesterday, datetime.time(21, n)))
        with time_machine.travel(moment, tick=False):
            a_look(PatientFactory(), gp)
    # Fifty patients over every chain: the heads locked, the looks inserted, the heads moved, one
    # query each, as for five patients.
    with django_assert_max_num_queries(17):
        page = office["client"].get(evidence_url("out-of-hours", gp))
    assert page.content.decode().count("NHS number") == 50  # one page
    assert "Page 1 of 2" in page.content.decode()
    assert verify_trail().problems == []


@pytest.mark.integration
def test_on_postgresql_the_history_is_only_read_and_appended_and_refuses_even_the_owner(
    database_owner,
):
    from django.db import DatabaseError, connection, transaction

    from audit.privileges import application_role

    ae = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    privacy = make_team("Privacy office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    access = services.break_glass(
        user=member(ae, Role.AE_CLINICIAN, "doctor"), team=ae, patient=PatientFactory(),
        reason="other", explanation="x",
    )  # fmt: skip
    officer = member(privacy, Role.PRIVACY_OFFICER, "pat")
    services.review_break_glass(
        access=access, outcome="flagged", note="why", actor=actor_for(officer, privacy.pk)
    )
    if connection.vendor != "postgresql":
        return
    statements = (
        "UPDATE access_breakglassreview SET note = 'nothing'",
        "DELETE FROM access_breakglassreview",
        "TRUNCATE access_breakglassreview",
    )
    for statement in statements:  # the owner: the triggers refuse
        with pytest.raises(psycopg.Error, match="append-only"):
            database_owner.execute(statement)
    if application_role() is not None:  # the application: not even granted
        for statement in statements:
            with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
                connection.cursor().execute(statement)
    assert BreakGlassReview.objects.get().note == "why"


@pytest.mark.parametrize("day", ["31/12/9999", "1/1/2100"])
def test_a_date_past_the_trail_is_refused_on_the_queue_and_the_evidence(office, day):
    client = office["client"]
    queue = client.get(reverse("audit-review-queue"), {"state": "all", "started_to": day})
    assert queue.status_code == 400
    assert "The last day must be between 1900 and 2099" in queue.content.decode()
    evidence = reverse(
        "audit-alert-evidence", kwargs={"kind": "emergency-access", "user_id": office["doctor"].pk}
    )
    answer = client.get(evidence, {"last": day})
    assert answer.status_code == 400
    assert "The last day must be between 1900 and 2099" in answer.content.decode()


def _report(client, patient):
    return client.get(reverse("audit-access-report", kwargs={"patient_id": patient.pk}))


def test_the_access_report_shows_each_emergency_access_with_its_reviews_and_page(office):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client, access, patient = office["client"], office["access"], office["patient"]
    first, second = office["officers"]
    review(office, first, "flagged", "Opened the letters too: ask why")
    review(office, second, "flagged", "Still waiting for the clinician's account")
    elsewhere = services.break_glass(
        user=office["doctor"], team=office["ae"], patient=PatientFactory(), reason="unconscious",
        explanation="someone else entirely",
    )  # fmt: skip

    _report(client, patient)  # the first page of a session reads what later ones have cached
    with CaptureQueriesContext(connection) as one:
        page = _report(client, patient).content.decode()
    assert "Emergency accesses to this record" in page
    link = reverse("audit-break-glass", kwargs={"access_id": access.pk})
    assert f'href="{link}"' in page
    assert "Flagged for investigation" in page  # where it stands now
    assert page.index("Opened the letters too: ask why") < page.index(
        "Still waiting for the clinician&#39;s account"
    )  # every review, oldest first
    assert "Dana Reyes" in page and "brought in by ED" in page
    assert "someone else entirely" not in page  # only this patient's accesses
    assert reverse("audit-break-glass", kwargs={"access_id": elsewhere.pk}) not in page

    for n in range(4):  # more accesses, each reviewed: the same queries draw them all
        more = services.break_glass(
            user=office["doctor"], team=office["ae"], patient=patient, reason="unconscious",
            explanation=f"again {n}",
        )  # fmt: skip
        services.review_break_glass(access=more, outcome="approved", note=f"fine {n}",
                                    actor=actor_for(first, office["privacy"].pk))  # fmt: skip
    with CaptureQueriesContext(connection) as five:
        page = _report(client, patient).content.decode()
    assert page.count("Not reviewed yet") == 0 and page.count("fine ") == 4
    assert len(five.captured_queries) == len(one.captured_queries)


def test_a_record_nobody_broke_glass_for_says_so(office):
    page = _report(office["client"], PatientFactory()).content.decode()
    assert "Nobody has used emergency access to this record." in page
