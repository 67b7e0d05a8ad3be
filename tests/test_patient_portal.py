"""The patients' own part of the portal (/your-record/): who has looked at my record and why
(names, roles, organisations, reasons; never usernames or clinical data; by role only where the
professional chose it and the deployment allows), questions that reach the privacy officers,
and an objection recorded and withdrawn through the one service, with its effect on the next
look. Patients are signed in here as NHS login's callback leaves them (tests/patient_helpers.py);
tests/test_patient_sign_in.py signs them in over real HTTP.
"""

import datetime
import time

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access import services
from access.exceptions import ObjectionError
from access.models import Objection, Role, StaffProfile, Team
from access.policy import actor_for, decide
from audit.models import AccessEvent, PatientQuestion, PatientVisit
from records.models import Snapshot
from tests.factories import LinkFactory, PatientFactory, UserFactory, make_team, member
from tests.patient_helpers import sign_in_as_patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    """A patient cared for by a practice, whose GP (Dr Grace Okafor) has looked at their
    allergies; the practice's system holds a penicillin allergy (shown to the GP, never here)."""
    office = UserFactory(username="office")
    practice = make_team("Church Street Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    gp = member(practice, Role.GP, "g.okafor")
    gp.first_name, gp.last_name = "Grace", "Okafor"
    gp.save()
    patient = PatientFactory(given_names="Amelia", family_name="Jones")
    services.start_relationship(
        patient=patient, team=practice, kind="registered_gp", reason="registered", actor=office
    )
    link = LinkFactory(patient=patient, local_id="P1")
    now = timezone.now()
    Snapshot.objects.create(
        link=link, category="allergies", status=Snapshot.Status.FRESH, requested_at=now,
        fetched_at=now, expires_at=now + datetime.timedelta(hours=1), item_count=1,
        items=[{"resource_type": "AllergyIntolerance", "resource_id": "a1",
                "title": "Penicillin", "resource": {"resourceType": "AllergyIntolerance"}}],
    )  # fmt: skip
    staff = Client()
    staff.force_login(gp)
    look = staff.get(reverse("patient-record", kwargs={"patient_id": patient.pk}))
    assert look.status_code == 200 and "Penicillin" in look.content.decode()
    return {"office": office, "practice": practice, "gp": gp, "patient": patient, "staff": staff}


@pytest.fixture
def patient_client(world):
    browser = Client()
    sign_in_as_patient(browser, world["patient"])
    return browser


def page(client, route: str, **kwargs) -> str:
    response = client.get(reverse(route, kwargs=kwargs))
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_looks_show_name_role_organisation_and_reason_never_username_or_clinical_data(
    world, patient_client
):
    body = page(patient_client, "patient-looks")

    assert "Grace Okafor" in body
    assert "GP, Church Street Surgery" in body
    assert "Caring for you" in body
    assert "Allergies" in body  # which heading was looked at ...
    assert "Penicillin" not in body  # ... never what it holds
    assert "g.okafor" not in body  # never a username


def test_an_emergency_access_shows_its_reason_but_not_what_the_professional_wrote(
    world, patient_client
):
    ae = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    doctor = member(ae, Role.AE_CLINICIAN, "a.mehta")
    doctor.first_name, doctor.last_name = "Arjun", "Mehta"
    doctor.save()
    services.break_glass(
        user=doctor, team=ae, patient=world["patient"], reason="unconscious",
        explanation="Dr Mehta: found by daughter Jane, overdose suspected",
    )  # fmt: skip
    staff = Client()
    staff.force_login(doctor)
    record = reverse("patient-record", kwargs={"patient_id": world["patient"].pk})
    assert staff.get(record).status_code == 200

    body = page(patient_client, "patient-looks")

    assert "Arjun Mehta" in body and "A&amp;E clinician, Thameside A&amp;E" in body
    assert "Emergency access: patient unable to consent (unconscious or confused)" in body
    # What they wrote may name others, hold clinical detail or their own name: not for here.
    assert "daughter Jane" not in body and "overdose" not in body and "Dr Mehta" not in body
    assert "a.mehta" not in body


def test_a_professional_who_chose_to_be_shown_by_role_appears_by_role_only(
    world, patient_client, settings, client
):
    settings.LCR_STAFF_MAY_BE_SHOWN_BY_ROLE = True
    StaffProfile.objects.create(user=world["gp"], shown_to_patients_by_role_only=True)

    body = page(patient_client, "patient-looks")

    assert "Grace Okafor" not in body and "Okafor" not in body
    assert "GP, Church Street Surgery" in body
    assert "chose to be shown to patients by their job role only" in body
    look = AccessEvent.objects.get()
    patient_client.post(
        reverse("patient-ask-about-look", kwargs={"look_id": look.pk}), {"text": "Who?"}
    )
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR01")
    client.force_login(member(office, Role.PRIVACY_OFFICER, "p.shah"))  # (second factor passed)
    assert "do not name them in your answer" in page(client, "audit-patient-questions")


def test_the_choice_is_ignored_where_the_deployment_does_not_allow_it(
    world, patient_client, settings
):
    settings.LCR_STAFF_MAY_BE_SHOWN_BY_ROLE = False
    StaffProfile.objects.create(user=world["gp"], shown_to_patients_by_role_only=True)
    assert "Grace Okafor" in page(patient_client, "patient-looks")


def test_reading_your_own_report_is_recorded_as_your_visit_not_as_a_look(world, patient_client):
    looks = AccessEvent.objects.count()

    page(patient_client, "patient-looks")
    body = page(patient_client, "patient-looks")

    assert AccessEvent.objects.count() == looks
    assert (
        PatientVisit.objects.filter(
            patient=world["patient"], action=PatientVisit.Action.READ_LOOKS
        ).count()
        == 2
    )
    assert body.count('href="/your-record/who-has-looked/') == looks  # still only the GP's look


def test_a_question_about_a_look_reaches_the_privacy_officers_and_its_answer_the_patient(
    world, patient_client, client
):
    look = AccessEvent.objects.get()
    ask = patient_client.post(
        reverse("patient-ask-about-look", kwargs={"look_id": look.pk}),
        {"text": "I have never met this doctor. Why did they look?"},
    )
    assert ask.status_code == 302 and ask["Location"] == reverse("patient-questions")
    question = PatientQuestion.objects.get()
    assert (question.patient, question.look_id, question.status) == (
        world["patient"],
        look.pk,
        PatientQuestion.Status.OPEN,
    )

    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR01")
    privacy = client  # (signed in with their second factor)
    privacy.force_login(member(office, Role.PRIVACY_OFFICER, "p.shah"))
    queue = page(privacy, "audit-patient-questions")
    assert "I have never met this doctor" in queue
    assert "Grace Okafor (g.okafor)" in queue and "Church Street Surgery" in queue
    assert world["patient"].family_name not in queue  # the queue names no patient
    answered = privacy.post(
        reverse("audit-answer-question", kwargs={"question_id": question.pk}),
        {"answer": "Dr Okafor is your registered GP and checked your allergies."},
    )
    assert answered.status_code == 302

    question.refresh_from_db()
    assert question.status == PatientQuestion.Status.ANSWERED
    mine = page(patient_client, "patient-questions")
    assert "Dr Okafor is your registered GP" in mine and "Answered" in mine
    assert (
        "I have never met this doctor"
        not in page(privacy, "audit-patient-questions").split("Answered lately")[0]
    )


def test_an_answer_needs_words_and_is_given_once(world, patient_client, client):
    look = AccessEvent.objects.get()
    patient_client.post(
        reverse("patient-ask-about-look", kwargs={"look_id": look.pk}), {"text": "Why?"}
    )
    question = PatientQuestion.objects.get()
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR01")
    privacy = client  # (signed in with their second factor)
    privacy.force_login(member(office, Role.PRIVACY_OFFICER, "p.shah"))
    url = reverse("audit-answer-question", kwargs={"question_id": question.pk})

    empty = privacy.post(url, {"answer": "  "}, follow=True).content.decode()
    assert "Write the answer the patient will read" in empty
    privacy.post(url, {"answer": "Your GP."})
    again = privacy.post(url, {"answer": "Someone else."}, follow=True).content.decode()
    assert "answered already" in again
    question.refresh_from_db()
    assert question.reply.text == "Your GP."


def test_an_empty_question_is_refused_with_a_message_and_nothing_stored(world, patient_client):
    look = AccessEvent.objects.get()
    response = patient_client.post(
        reverse("patient-ask-about-look", kwargs={"look_id": look.pk}), {"text": "   "}
    )
    assert response.status_code == 200 and "Write your question" in response.content.decode()
    assert not PatientQuestion.objects.exists()


def test_another_patients_look_cannot_be_seen_or_asked_about(world, patient_client):
    other = PatientFactory()
    services.start_relationship(
        patient=other, team=world["practice"], kind="registered_gp", reason="r",
        actor=world["office"],
    )  # fmt: skip
    world["staff"].get(reverse("patient-record", kwargs={"patient_id": other.pk}))
    theirs = AccessEvent.objects.get(patient=other)
    url = reverse("patient-ask-about-look", kwargs={"look_id": theirs.pk})

    assert patient_client.get(url).status_code == 404
    assert patient_client.post(url, {"text": "Who is this?"}).status_code == 404
    assert (
        patient_client.get(
            reverse("patient-ask-about-look", kwargs={"look_id": theirs.pk + 1000})
        ).status_code
        == 404
    )
    assert not PatientQuestion.objects.exists()
    assert other.family_name not in page(patient_client, "patient-looks")


def test_an_objection_recorded_by_the_patient_closes_the_record_to_the_next_look(
    world, patient_client
):
    patient, gp = world["patient"], world["gp"]
    explained = page(patient_client, "patient-object")
    assert "emergency access" in explained and "their own systems" in explained

    done = patient_client.post(reverse("patient-object"))

    assert done.status_code == 302
    objection = Objection.objects.get(patient=patient, withdrawn_at__isnull=True)
    assert objection.recorded_by is None and objection.recorded_by_patient
    assert not decide(actor_for(gp), patient, ["allergies"]).allowed
    record = reverse("patient-record", kwargs={"patient_id": patient.pk})
    assert world["staff"].get(record).status_code == 404
    assert "You have objected to sharing your record" in page(patient_client, "patient-sharing")

    withdrawn = patient_client.post(reverse("patient-withdraw-objection"))

    assert withdrawn.status_code == 302
    objection.refresh_from_db()
    assert objection.withdrawn_at is not None and objection.withdrawn_by_patient
    assert objection.withdrawn_by is None
    assert world["staff"].get(record).status_code == 200
    visits = set(PatientVisit.objects.values_list("action", flat=True))
    assert {PatientVisit.Action.OBJECTED, PatientVisit.Action.WITHDREW_OBJECTION} <= visits


def test_objecting_twice_records_one_objection(world, patient_client):
    patient_client.post(reverse("patient-object"))
    patient_client.post(reverse("patient-object"))
    assert Objection.objects.filter(patient=world["patient"]).count() == 1


def test_a_patients_session_times_out_when_idle(world, settings):
    browser = Client()
    idle = settings.LCR_SESSION_IDLE_MINUTES * 60 + 5
    sign_in_as_patient(browser, world["patient"], last_activity=time.time() - idle)

    response = browser.get(reverse("patient-looks"), follow=True)

    assert response.redirect_chain[0][0].startswith(reverse("patient-sign-in"))
    assert "without activity" in response.content.decode()
    assert browser.get(reverse("patient-home")).status_code == 302


def test_staff_signed_in_are_not_found_on_patients_pages(world):
    for route in ("patient-home", "patient-looks", "patient-questions", "patient-sharing"):
        assert world["staff"].get(reverse(route)).status_code == 404, route


def test_a_staff_sign_in_in_the_same_browser_ends_the_patients_session(world, patient_client):
    patient_client.force_login(world["gp"])
    patient_client.logout()
    assert patient_client.get(reverse("patient-home")).status_code == 302


def test_a_professional_chooses_how_patients_see_them_where_the_deployment_allows(world, settings):
    url = reverse("account-shown-to-patients")
    settings.LCR_STAFF_MAY_BE_SHOWN_BY_ROLE = False
    assert world["staff"].get(url).status_code == 404

    settings.LCR_STAFF_MAY_BE_SHOWN_BY_ROLE = True
    assert "by your name, job role and organisation" in page(
        world["staff"], "account-shown-to-patients"
    )
    saved = world["staff"].post(url, {"shown": "role"})

    assert saved.status_code == 302
    assert StaffProfile.objects.get(user=world["gp"]).shown_to_patients_by_role_only


def nhs_login_provider(**fields):
    from access.models import IdentityProvider

    return IdentityProvider.objects.create(
        slug=fields.pop("slug", "nhs-login"), name="NHS login", issuer="http://127.0.0.1:1",
        client_id="c", for_patients=fields.pop("for_patients", True), **fields,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"identity_proofing_level": "P5"}, "not-proved"),
        ({"identity_proofing_level": "P0"}, "not-proved"),
        ({"identity_proofing_level": None}, "not-proved"),
        ({"nhs_number": ""}, "no-nhs-number"),
        ({"nhs_number": "1234567890"}, "no-nhs-number"),  # fails the check digit
        ({"nhs_number": "9990000018"}, "not-registered"),
        ({"sub": ""}, "no-subject"),
    ],
)
def test_a_patients_sign_in_is_refused_for_each_reason_it_must_be(db, claims, code):
    from access.exceptions import SignInRefused
    from access.services.patient_sign_in import patient_for_claims

    patient = PatientFactory()
    good = {"sub": "s1", "identity_proofing_level": "P9", "nhs_number": patient.nhs_number}
    with pytest.raises(SignInRefused) as refused:
        patient_for_claims(provider=nhs_login_provider(), id_claims={**good, **claims})
    assert refused.value.code == code


def test_a_patients_sign_in_finds_the_record_kept_after_a_merge(db):
    from access.services.patient_sign_in import patient_for_claims

    kept = PatientFactory()
    merged = PatientFactory(merged_into=kept)
    claims = {"sub": "s1", "identity_proofing_level": "P9", "nhs_number": merged.nhs_number}
    assert patient_for_claims(provider=nhs_login_provider(), id_claims=claims).patient == kept


def test_patients_and_staff_providers_never_cross(db):
    from access.exceptions import SignInRefused
    from access.services.patient_sign_in import patient_for_claims
    from access.services.sign_in import sign_in_with_claims

    patient = PatientFactory()
    claims = {"sub": "s1", "identity_proofing_level": "P9", "nhs_number": patient.nhs_number}
    with pytest.raises(SignInRefused):
        sign_in_with_claims(provider=nhs_login_provider(), claims=claims)
    with pytest.raises(SignInRefused):
        staff = nhs_login_provider(slug="cis2", for_patients=False)
        patient_for_claims(provider=staff, id_claims=claims)


def test_the_looks_page_reads_a_bounded_number_of_queries_whatever_the_looks(
    world, patient_client, django_assert_max_num_queries, settings
):
    from tests.factories import a_look

    settings.LCR_STAFF_MAY_BE_SHOWN_BY_ROLE = True
    for n in range(30):
        a_look(world["patient"], UserFactory(username=f"looker{n % 5}"))
    with django_assert_max_num_queries(12):
        body = page(patient_client, "patient-looks")
    assert body.count('href="/your-record/who-has-looked/') == 31


def test_a_member_of_staff_cannot_start_nhs_login_until_they_sign_out(world):
    nhs_login_provider()
    start = world["staff"].get(reverse("patient-sign-in"))
    assert "sign out first" in start.content.decode()
    begin = world["staff"].get(reverse("patient-sign-in-begin"))
    assert begin.status_code == 302 and begin["Location"] == reverse("patient-sign-in")
    assert world["staff"].get(reverse("home")).status_code == 200  # still signed in as staff


def test_a_second_question_about_the_same_open_look_is_refused(world, patient_client):
    look = AccessEvent.objects.get()
    ask = reverse("patient-ask-about-look", kwargs={"look_id": look.pk})
    patient_client.post(ask, {"text": "Why did they look?"})
    again = patient_client.post(ask, {"text": "Why did they look?"}, follow=True)
    assert "You have asked about this look already" in again.content.decode()
    assert PatientQuestion.objects.count() == 1


def test_a_privacy_officer_does_not_answer_a_question_about_their_own_look(world, client):
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR01")
    officer = member(office, Role.PRIVACY_OFFICER, "p.shah")
    client.force_login(officer)
    client.get(reverse("audit-access-report", kwargs={"patient_id": world["patient"].pk}))
    theirs = AccessEvent.objects.get(user=officer)
    asker = Client()
    sign_in_as_patient(asker, world["patient"])
    asker.post(
        reverse("patient-ask-about-look", kwargs={"look_id": theirs.pk}), {"text": "Who is this?"}
    )
    question = PatientQuestion.objects.get()

    answered = client.post(
        reverse("audit-answer-question", kwargs={"question_id": question.pk}),
        {"answer": "It was me."},
        follow=True,
    )

    assert "another privacy officer answers it" in answered.content.decode()
    assert PatientQuestion.objects.get().status == PatientQuestion.Status.OPEN
    unknown = reverse("audit-answer-question", kwargs={"question_id": question.pk + 99})
    assert client.post(unknown, {"answer": "x"}).status_code == 404


def test_a_look_at_a_record_merged_into_theirs_can_be_asked_about(world, patient_client):
    from tests.factories import merged

    duplicate = PatientFactory(given_names="Amelia", family_name="Jones")
    services.start_relationship(
        patient=duplicate, team=world["practice"], kind="registered_gp", reason="r",
        actor=world["office"],
    )  # fmt: skip
    world["staff"].get(reverse("patient-record", kwargs={"patient_id": duplicate.pk}))
    merged(world["patient"], duplicate, actor=world["office"])
    earlier = AccessEvent.objects.get(patient=duplicate)

    ask = reverse("patient-ask-about-look", kwargs={"look_id": earlier.pk})
    assert patient_client.get(ask).status_code == 200
    assert patient_client.post(ask, {"text": "Was this me?"}).status_code == 302


def test_an_objection_the_patient_recorded_is_theirs_to_withdraw(world, patient_client):
    patient_client.post(reverse("patient-object"), {"confirm": "yes"})
    objection = Objection.objects.get()
    assert objection.recorded_by_patient

    with pytest.raises(ObjectionError, match="only they can withdraw it"):
        services.withdraw_objection(objection=objection, actor=world["office"])
    stale = Objection.objects.get()
    services.withdraw_objection(objection=stale, by_patient=True)
    services.withdraw_objection(objection=stale, by_patient=True)  # a stale second page

    objection.refresh_from_db()
    assert objection.withdrawn_by_patient and objection.withdrawn_by is None
    again = services.record_objection(
        patient=world["patient"], notes="asked", actor=world["office"]
    )
    twice = services.record_objection(
        patient=world["patient"], notes="asked", actor=world["office"]
    )
    assert again == twice and Objection.objects.filter(withdrawn_at__isnull=True).count() == 1


def test_a_link_to_the_patients_way_back_does_not_sign_staff_out(world):
    answer = world["staff"].get(reverse("patient-sign-in-callback"), {"error": "access_denied"})
    assert answer.status_code == 302
    assert world["staff"].get(reverse("home")).status_code == 200


def test_reading_the_answers_and_signing_out_are_recorded_as_the_patients_visits(
    world, patient_client
):
    page(patient_client, "patient-questions")
    patient_client.post(reverse("patient-sign-out"))

    actions = list(
        PatientVisit.objects.filter(patient=world["patient"])
        .order_by("occurred_at", "pk")
        .values_list("action", flat=True)
    )
    assert actions[-2:] == [PatientVisit.Action.READ_ANSWERS, PatientVisit.Action.SIGNED_OUT]
    assert patient_client.get(reverse("patient-home")).status_code == 302
