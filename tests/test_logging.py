"""Logs: JSON lines (LCR_LOG_FORMAT=json) carrying the request id the access event holds, the
user's id, the view, status and duration; and no patient data in them, through a whole journey
(sign in, search, a record, emergency access, the administrators' page, the API, the fetches)
logged at DEBUG."""

import datetime
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.urls import reverse
from django.utils import timezone

from access import services
from access.models import Role, Team
from audit.models import AccessEvent
from lcr.log_context import JsonLines, RequestContextFilter
from records.categories import ALL_CATEGORIES
from records.fetching import fetch_link
from records.identity_sync import sync_source_identities
from records.models import Link, MatchMethod, Patient, Snapshot, SourceSystem
from tests.api_helpers import api_client_for, bearer, token
from tests.factories import PatientFactory, UserFactory, make_team, member

pytestmark = pytest.mark.django_db

PROJECT_LOGGERS = (
    "records", "access", "audit", "care_record", "lcr", "partner_api", "django.request",
    "django.security", "celery",
)  # fmt: skip
PASSWORD = "correct horse battery staple"


@contextmanager
def json_logs(level: int = logging.DEBUG) -> Iterator[io.StringIO]:
    """Everything the project's loggers write at `level` and above, formatted as production's
    JSON handler formats it (the same filter and formatter), into a string."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    before = {name: logging.getLogger(name).level for name in PROJECT_LOGGERS}
    root.addHandler(handler)
    for name in PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(level)
    try:
        yield written
    finally:
        root.removeHandler(handler)
        for name, was in before.items():
            logging.getLogger(name).setLevel(was)


def lines(written: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in written.getvalue().splitlines() if line.strip()]


@pytest.fixture
def looked_at(client):
    team = make_team("Riverside Social Care", Team.Kind.SOCIAL_CARE_TEAM, ods_code="LBR")
    worker = member(team, Role.SOCIAL_WORKER, "sw")
    patient = PatientFactory()
    services.start_relationship(
        patient=patient, team=team, kind="social_care_case", reason="open case",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    client.force_login(worker)
    return client, worker, patient


def test_every_line_of_a_request_carries_the_request_id_its_access_event_holds(looked_at):
    client, worker, patient = looked_at

    with json_logs(logging.INFO) as written:
        response = client.get(
            reverse("patient-record", args=[patient.pk]), HTTP_X_REQUEST_ID="trace-7f3a"
        )

    assert response.status_code == 200
    event = AccessEvent.objects.get()
    assert event.request_id == "trace-7f3a" == response["X-Request-ID"]
    request_line = next(line for line in lines(written) if line["logger"] == "lcr.requests")
    assert request_line["request_id"] == "trace-7f3a"
    assert request_line["user_id"] == str(worker.pk)
    assert request_line["view"] == "patient-record"
    assert request_line["status"] == 200
    assert request_line["duration_ms"] > 0
    assert request_line["level"] == "INFO"
    assert datetime.datetime.fromisoformat(request_line["time"])
    assert "sw" not in request_line.values()  # the user's id, never their name
    assert str(patient.pk) not in request_line["message"]  # the view's name, not the path


def test_a_request_without_an_id_is_given_one_that_its_event_and_its_lines_share(looked_at):
    client, _, patient = looked_at

    with json_logs(logging.INFO) as written:
        response = client.get(reverse("patient-record", args=[patient.pk]))

    request_id = AccessEvent.objects.get().request_id
    assert len(request_id) == 32
    assert response["X-Request-ID"] == request_id
    assert {line["request_id"] for line in lines(written)} == {request_id}


def test_a_request_id_that_is_not_a_plain_token_is_replaced(looked_at):
    client, _, patient = looked_at

    response = client.get(
        reverse("patient-record", args=[patient.pk]), HTTP_X_REQUEST_ID='x" name=Smith'
    )

    request_id = AccessEvent.objects.get().request_id
    assert request_id == response["X-Request-ID"]
    assert "Smith" not in request_id and len(request_id) == 32


def test_an_api_error_names_the_same_request_id_as_the_log_line(client):
    with json_logs(logging.INFO) as written:
        response = client.get("/api/v1/fhir/Patient", HTTP_X_REQUEST_ID="api-trace-1")

    assert response.status_code == 401
    assert "request id api-trace-1" in response.json()["issue"][0]["diagnostics"]
    assert {line["request_id"] for line in lines(written)} == {"api-trace-1"}


def test_lines_written_outside_a_request_carry_no_request():
    with json_logs(logging.INFO) as written:
        logging.getLogger("records.fetching").warning("a source is slow")

    (line,) = lines(written)
    assert (line["request_id"], line["user_id"], line["view"]) == ("-", "-", "-")
    assert line["message"] == "a source is slow"


def test_django_s_own_line_for_a_not_found_page_carries_the_request_id(client):
    client.force_login(UserFactory(username="someone"))

    with json_logs(logging.INFO) as written:
        client.get("/no-such-page/", HTTP_X_REQUEST_ID="nf-1")

    django_line = next(line for line in lines(written) if line["logger"] == "django.request")
    assert django_line["request_id"] == "nf-1"


def test_the_settings_use_the_json_formatter_when_asked(settings):
    from django.conf import settings as django_settings

    assert django_settings.LOGGING["formatters"]["json"]["()"] == "lcr.log_context.JsonLines"
    assert django_settings.LOGGING["handlers"]["console"]["filters"] == ["request"]
    assert django_settings.LCR_LOG_FORMAT in {"plain", "json"}


def test_json_logs_are_chosen_by_lcr_log_format(tmp_path):
    import os
    import subprocess
    import sys

    program = (
        "import django, logging; django.setup(); "
        "logging.getLogger('records').warning('hello %s', 'there')"
    )
    env = {**os.environ, "LCR_LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "lcr.settings"}
    written = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True,
        timeout=120,
    ).stderr  # fmt: skip

    line = json.loads(written.strip().splitlines()[-1])
    assert (line["message"], line["level"], line["logger"]) == ("hello there", "WARNING", "records")
    assert line["request_id"] == "-"


# No patient data in the logs of a whole journey


def private_details(patient: Patient) -> list[str]:
    """Every way a log could name the patient: names, the NHS number however written, the date
    of birth however written, the postcode with and without its space, the address."""
    number = patient.nhs_number
    born = patient.birth_date
    details = [
        number,
        f"{number[:3]} {number[3:6]} {number[6:]}",
        f"{number[:3]}-{number[3:6]}-{number[6:]}",
        born.isoformat(),
        born.strftime("%d/%m/%Y"),
        born.strftime("%d-%m-%Y"),
        f"{born.day} {born:%B %Y}",
        f"{born.day} {born:%b %Y}",
        born.strftime("%Y%m%d"),
        patient.family_name,
        patient.family_name.upper(),
        *(name for name in patient.given_names.split() if len(name) > 2),
    ]
    if patient.postcode:
        details += [patient.postcode, patient.postcode.replace(" ", "")]
    if patient.address_lines:
        details += [line for line in patient.address_lines.splitlines() if line.strip()]
    return [detail for detail in details if detail]


@pytest.mark.integration
def test_a_whole_journey_logs_no_patient_data(client, population, simulated_source, settings):
    from tests.fetch_helpers import link_everywhere

    settings.LCR_PASSWORD_SIGN_IN = "everyone"
    record = link_everywhere(population, simulated_source, population.people[0])
    patient = record.patient
    stranger = Patient.objects.get(nhs_number=population.people[1].nhs_number)
    gp_practice = make_team("Hackney GP", Team.Kind.GP_PRACTICE, ods_code="F84001")
    emergency = make_team("A&E", Team.Kind.AE_DEPARTMENT, ods_code="RQXAE")
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    gp = member(gp_practice, Role.GP, "dr.gp")
    gp.set_password(PASSWORD)
    gp.save()
    clinician = member(emergency, Role.AE_CLINICIAN, "ae.doc")
    administrator = member(office, Role.ADMINISTRATOR, "office.admin")
    services.start_relationship(
        patient=patient, team=gp_practice, kind="registered_gp", reason="registered",
        actor=UserFactory(username="setup"),
    )  # fmt: skip
    api, secret = api_client_for(gp_practice, Role.GP, ["patient.read"])
    number = patient.nhs_number

    with json_logs() as written:
        # make run's identity sync of every source (records/identity_sync.py).
        for source in record.sources.values():
            sync_source_identities(source_id=source.pk)
        # Fetched from the five simulated sources, as the worker would after a look.
        for link in record.links.values():
            fetch_link(link_id=link.pk, categories=list(ALL_CATEGORIES), final_attempt=True)
        # A GP signs in, searches by NHS number (spaced, as typed) and opens the record.
        signed_in = client.post(reverse("login"), {"username": "dr.gp", "password": PASSWORD})
        assert signed_in.status_code == 302
        search = client.get(
            reverse("patient-search"), {"nhs_number": f"{number[:3]} {number[3:6]} {number[6:]}"}
        )
        assert search.status_code == 200
        assert patient.family_name.upper() in search.content.decode().upper()
        client.get(reverse("patient-search"), {"family_name": patient.family_name})  # an error
        assert client.get(reverse("patient-record", args=[patient.pk])).status_code == 200
        client.get(reverse("record-updates", args=[patient.pk]), {"look": "1"})
        client.get(reverse("patient-record", args=[stranger.pk]))  # not theirs: 404
        client.post(reverse("logout"))
        # An A&E clinician breaks the glass, with a wrong date of birth first.
        client.force_login(clinician)
        form = {
            "nhs_number": stranger.formatted_nhs_number,
            "reason": "unconscious",
            "explanation": "brought in by ambulance",
        }
        client.post(reverse("break-glass"), {**form, "birth_date": "01/01/1901"})
        opened = client.post(
            reverse("break-glass"),
            {**form, "birth_date": stranger.birth_date.strftime("%d/%m/%Y")},
        )
        assert opened.status_code == 302
        assert client.get(opened["Location"]).status_code == 200
        # An administrator finds the patient and opens their page.
        client.force_login(administrator)
        found = client.post(reverse("manage-find-patient"), {"nhs_number": number})
        assert found.status_code == 302
        assert client.get(reverse("manage-patient", args=[patient.pk])).status_code == 200
        client.post(reverse("manage-find-patient"), {"nhs_number": "123"})  # not a number
        # A partner system searches by NHS number (first with no token, refused) and reads
        # the summary.
        client.logout()
        client.get("/api/v1/fhir/Patient", {"identifier": f"nhs-number|{number}"})
        headers = bearer(token(client, api, secret), end_user="nurse.ade")
        identifier = f"https://fhir.nhs.uk/Id/nhs-number|{number}"
        assert (
            client.get("/api/v1/fhir/Patient", {"identifier": identifier}, **headers).status_code
            == 200
        )
        summary = client.get(reverse("api-patient-summary", args=[patient.pk]), **headers)
        assert summary.status_code == 200
        client.get(reverse("api-patient-summary", args=[stranger.pk]), **headers)  # 404

    logged = written.getvalue()
    assert "lcr.requests" in logged and "patient-record" in logged  # the logs were captured
    assert Snapshot.objects.filter(link__patient=patient, status="fresh").exists()
    assert AccessEvent.objects.filter(patient=stranger, basis="break_glass").exists()
    leaks = {
        f"{person.pk}: {detail!r}"
        for person in (patient, stranger)
        for detail in private_details(person)
        if detail in logged
    }
    assert leaks == set(), logged[:5000]


@pytest.mark.parametrize("search", ["local_id", "identifier", "chained"])
def test_an_unreachable_source_is_logged_by_its_code_never_with_the_patient_asked_for(search):
    """The warnings fetching writes name the source and the link's id, never the patient: not
    even the URL asked, whose query names them by NHS number when the source searches by it."""
    patient = PatientFactory(
        given_names="Marigold", family_name="Quennell", postcode="N16 7QZ",
        birth_date=datetime.date(1961, 7, 23),
    )  # fmt: skip
    source = SourceSystem.objects.create(
        ods_code="RDN02", name="Down Hospital", kind="acute", base_url="http://127.0.0.1:9/fhir",
        timeout_seconds=0.5, patient_search=search,
    )  # fmt: skip
    link = Link.objects.create(
        patient=patient, source=source, local_id="L-77", matched_by=MatchMethod.NHS_NUMBER,
        confirmed_at=timezone.now(),
    )  # fmt: skip

    with json_logs() as written:
        fetch_link(link_id=link.pk, categories=list(ALL_CATEGORIES), final_attempt=True)

    logged = written.getvalue()
    assert "unavailable" in logged and "could not connect" in logged
    assert [detail for detail in private_details(patient) if detail in logged] == []
    messages = " ".join(line["message"] for line in lines(written))
    assert "AllergyIntolerance?…" in messages  # the URL is still named, without its query


def test_urllib3_never_logs_the_urls_it_asks_whatever_the_log_level(settings):
    assert settings.LOGGING["loggers"]["urllib3"]["level"] == "WARNING"
    assert logging.getLogger("urllib3").getEffectiveLevel() >= logging.WARNING


def test_a_line_a_celery_task_writes_names_the_task_and_its_id(settings):
    from celery import shared_task

    @shared_task(name="tests.logging_probe")
    def probe() -> None:
        logging.getLogger("records.tasks").warning("probing")

    with json_logs(logging.INFO) as written:
        result = probe.apply()

    (line,) = [line for line in lines(written) if line["message"] == "probing"]
    assert (line["task"], line["task_id"]) == ("tests.logging_probe", result.id)
    assert line["request_id"] == "-"
    assert settings.CELERY_WORKER_HIJACK_ROOT_LOGGER is False
