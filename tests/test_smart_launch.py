"""Opening a record from a clinical system (SMART App Launch, EHR launch): the simulated clinical
system (demo/clinical_system.py) runs on a free loopback port and is spoken to over real HTTP, by
the portal (configuration, token, Patient) and by the browser's part, which the test plays: the
test client's redirects to the clinical system are followed with `requests`, and back.
"""

import datetime
import socket
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.urls import reverse
from joserfc.jwk import RSAKey

from access import services
from access.models import BreakGlassAccess, ClinicalSystem, Team
from audit.models import AccessEvent
from demo.clinical_system import SimulatedClinicalSystem
from records.models import Patient
from tests.factories import PatientFactory, UserFactory, make_team, member
from tests.test_permission_matrix import without_csrf

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

PORTAL = "http://testserver"


@pytest.fixture
def clinical_system(population, settings):
    """The simulated clinical system, registered with the portal; calls to it time out fast."""
    settings.LCR_LAUNCH_TIMEOUT_SECONDS = 1.0
    system = SimulatedClinicalSystem(population, portal_url=PORTAL, client_id="scr-test").start()
    system.hang_seconds = 5.0
    ClinicalSystem.objects.create(
        name="Riverside EMIS", issuer=system.base_url, client_id="scr-test"
    )
    yield system
    system.stop()


@pytest.fixture
def practice(db) -> Team:
    return make_team("Riverside Practice", Team.Kind.GP_PRACTICE, ods_code="F84001")


@pytest.fixture
def gp(practice):
    return member(practice, "gp", "launching-gp")


def cared_for(team, person) -> Patient:
    """The person in the register, with a relationship with `team`."""
    patient = PatientFactory(nhs_number=person.nhs_number)
    services.start_relationship(
        patient=patient,
        team=team,
        kind="registered_gp",
        reason="registered at the practice",
        actor=UserFactory(username="launch-admin"),
        starts_on=datetime.date.today(),
    )
    return patient


def local(url: str) -> str:
    """The portal's address as the test client asks for it."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def press_button(client, system, person):
    """The clinician presses "Shared care record": the launch, the clinical system's authorise
    endpoint (over HTTP), and the portal's callback; the callback's answer is returned."""
    started = client.get(local(system.launch_url(person)))
    assert started.status_code == 302, started.content
    return come_back(client, started["Location"])


def come_back(client, authorise_url: str):
    approved = requests.get(authorise_url, allow_redirects=False, timeout=5)
    assert approved.status_code == 302, approved.text
    assert approved.headers["Location"].startswith(f"{PORTAL}/launch/callback?")
    return client.get(local(approved.headers["Location"]))


def test_launch_opens_the_record_of_the_patient_in_context_for_a_user_who_cares_for_them(
    client, clinical_system, practice, gp, population
):
    patient = cared_for(practice, population.people[0])
    client.force_login(gp)

    answer = press_button(client, clinical_system, population.people[0])

    assert answer.status_code == 302
    assert answer["Location"] == reverse("patient-record", args=[patient.pk])
    # The launch only decides where to go: the record page records the look when it opens.
    assert not AccessEvent.objects.exists()


def test_launch_opens_the_record_for_emergency_access_already_held_and_never_starts_one(
    client, clinical_system, population
):
    emergency = make_team("A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    clinician = member(emergency, "ae_clinician", "launching-ae")
    held = PatientFactory(nhs_number=population.people[0].nhs_number)
    services.break_glass(
        user=clinician, team=emergency, patient=held, reason="unconscious", explanation="arrived"
    )
    PatientFactory(nhs_number=population.people[1].nhs_number)
    client.force_login(clinician)

    opened = press_button(client, clinical_system, population.people[0])
    not_held = press_button(client, clinical_system, population.people[1])

    assert opened["Location"] == reverse("patient-record", args=[held.pk])
    assert not_held.status_code == 404
    assert BreakGlassAccess.objects.count() == 1


def test_the_way_to_the_clinical_system_asks_as_smart_v2_says(client, clinical_system, gp):
    client.force_login(gp)
    started = client.get(local(clinical_system.launch_url(clinical_system.listed[0])))
    query = {k: v[0] for k, v in parse_qs(urlsplit(started["Location"]).query).items()}
    assert started["Location"].startswith(f"{clinical_system.address}/oauth2/authorize?")
    assert query["response_type"] == "code"
    assert query["client_id"] == "scr-test"
    assert query["redirect_uri"] == f"{PORTAL}/launch/callback"
    assert query["scope"] == "launch openid fhirUser patient/Patient.rs"
    assert query["aud"] == clinical_system.base_url
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert query["state"] and query["launch"]


def test_launch_of_a_patient_the_user_has_no_relationship_with_is_the_ordinary_not_found(
    client, clinical_system, gp, population
):
    unrelated = PatientFactory(nhs_number=population.people[1].nhs_number)
    client.force_login(gp)

    answer = press_button(client, clinical_system, population.people[1])
    record_page = client.get(reverse("patient-record", args=[unrelated.pk]))

    assert answer.status_code == record_page.status_code == 404
    assert without_csrf(answer.content) == without_csrf(record_page.content)


def test_launch_of_a_patient_unknown_to_the_register_looks_the_same_as_one_not_allowed(
    client, clinical_system, gp, population
):
    unrelated = PatientFactory(nhs_number=population.people[1].nhs_number)
    client.force_login(gp)

    unknown = press_button(client, clinical_system, population.people[2])
    not_allowed = press_button(client, clinical_system, population.people[1])

    assert unknown.status_code == not_allowed.status_code == 404
    assert without_csrf(unknown.content) == without_csrf(not_allowed.content)
    assert unrelated.nhs_number.encode() not in unknown.content


def test_unregistered_clinical_system_is_refused_without_any_request_to_it(client, population, gp):
    stranger = SimulatedClinicalSystem(population, portal_url=PORTAL, client_id="scr-test").start()
    try:
        client.force_login(gp)
        answer = client.get(local(stranger.launch_url(population.people[0])))
        assert answer.status_code == 400
        assert b"This clinical system cannot open the record" in answer.content
        assert stranger.requests == []
    finally:
        stranger.stop()


def test_switched_off_clinical_system_is_refused_like_an_unregistered_one(
    client, clinical_system, gp, population
):
    ClinicalSystem.objects.update(active=False)
    client.force_login(gp)
    answer = client.get(local(clinical_system.launch_url(population.people[0])))
    assert answer.status_code == 400
    assert b"cannot open the record" in answer.content
    assert clinical_system.requests == []


def test_launch_by_someone_not_signed_in_continues_after_sign_in(
    client, clinical_system, practice, gp, population
):
    patient = cared_for(practice, population.people[0])
    launch = local(clinical_system.launch_url(population.people[0]))

    to_sign_in = client.get(launch)
    assert to_sign_in.status_code == 302
    sign_in = urlsplit(to_sign_in["Location"])
    assert sign_in.path == reverse("login")
    assert parse_qs(sign_in.query)["next"] == [launch]
    assert clinical_system.requests == []  # nothing is asked before sign-in

    client.force_login(gp)
    after = client.get(parse_qs(sign_in.query)["next"][0])
    assert come_back(client, after["Location"])["Location"] == reverse(
        "patient-record", args=[patient.pk]
    )


def test_someone_in_several_teams_chooses_one_before_the_clinical_system_is_asked(
    client, clinical_system, gp, population
):
    other = make_team("A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    member(other, "ae_clinician", gp.username)
    client.force_login(gp)
    answer = client.get(local(clinical_system.launch_url(population.people[0])))
    assert answer.status_code == 200
    assert b"Choose your team" in answer.content
    assert clinical_system.requests == []


def test_a_callback_used_twice_is_refused(client, clinical_system, practice, gp, population):
    cared_for(practice, population.people[0])
    client.force_login(gp)
    started = client.get(local(clinical_system.launch_url(population.people[0])))
    approved = requests.get(started["Location"], allow_redirects=False, timeout=5)
    callback = local(approved.headers["Location"])

    assert client.get(callback).status_code == 302
    replayed = client.get(callback)

    assert replayed.status_code == 400
    assert b"already been used" in replayed.content


def test_a_callback_with_a_state_never_issued_is_refused(client, gp):
    client.force_login(gp)
    answer = client.get(reverse("launch-callback"), {"code": "x", "state": "made-up"})
    assert answer.status_code == 400


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_clinical_system_gets_a_page_naming_it(client, gp):
    port = unused_port()
    ClinicalSystem.objects.create(
        name="Cerner Millennium", issuer=f"http://127.0.0.1:{port}/fhir", client_id="scr"
    )
    client.force_login(gp)
    answer = client.get(
        reverse("launch"), {"iss": f"http://127.0.0.1:{port}/fhir", "launch": "abc"}
    )
    assert answer.status_code == 502
    assert b"Cerner Millennium could not be reached" in answer.content


@pytest.mark.parametrize(
    "fault, words",
    [
        ("hang", b"did not answer in time"),
        ("junk-configuration", b"could not be read"),
    ],
)
def test_a_clinical_system_failing_before_the_redirect_gets_a_page_naming_it(
    client, clinical_system, gp, population, fault, words
):
    client.force_login(gp)
    clinical_system.fault = fault
    answer = client.get(local(clinical_system.launch_url(population.people[0])))
    assert answer.status_code == 502
    assert b"Riverside EMIS" in answer.content
    assert words in answer.content


@pytest.mark.parametrize(
    "fault, status, words",
    [
        ("junk-token", 502, b"when asked for access could not be read"),
        ("token-without-patient", 502, b"did not say which patient"),
        ("no-nhs-number", 502, b"without an NHS number"),
        ("invalid-nhs-number", 502, b"NHS number that is not valid"),
        ("deny", 400, b"did not allow the shared care record to open (access_denied"),
    ],
)
def test_a_clinical_system_failing_after_the_redirect_gets_a_page_naming_it(
    client, clinical_system, practice, gp, population, fault, status, words
):
    cared_for(practice, population.people[0])
    client.force_login(gp)
    started = client.get(local(clinical_system.launch_url(population.people[0])))
    clinical_system.fault = fault

    answer = come_back(client, started["Location"])

    assert answer.status_code == status
    assert b"The record could not be opened from Riverside EMIS" in answer.content
    assert words in answer.content


def test_a_token_endpoint_that_hangs_gets_a_page_naming_it(client, clinical_system, gp, population):
    client.force_login(gp)
    started = client.get(local(clinical_system.launch_url(population.people[0])))
    approved = requests.get(started["Location"], allow_redirects=False, timeout=5)
    clinical_system.fault = "hang"
    answer = client.get(local(approved.headers["Location"]))
    assert answer.status_code == 502
    assert b"Riverside EMIS did not answer in time when asked for access" in answer.content


def test_with_the_services_key_the_portal_signs_its_token_request(
    client, clinical_system, practice, gp, population, settings
):
    patient = cared_for(practice, population.people[0])
    key = RSAKey.generate_key(2048, private=True)
    settings.LCR_OIDC_PRIVATE_KEY = key.as_pem(private=True).decode()
    public = {**key.as_dict(private=False), "kid": key.thumbprint()}
    clinical_system.client_jwks = {"keys": [public]}
    client.force_login(gp)

    answer = press_button(client, clinical_system, population.people[0])

    assert answer["Location"] == reverse("patient-record", args=[patient.pk])
