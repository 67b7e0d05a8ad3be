"""Patients signing in through NHS login, over real HTTP: the portal (Django's live server) and
the simulated NHS login (demo/identity_provider.py, profile "nhs-login") on loopback, a browser
played by `requests`. A patient proved to P9 whose NHS number the register holds reaches their
own pages and nothing of staff's; P5, an unknown NHS number, or an ID token the portal must not
trust give a page saying so, and no session.
"""

import pytest
import requests
from django.contrib.auth import get_user_model
from joserfc.jwk import RSAKey

from access.models import IdentityProvider, SignInSession
from audit.models import AccessEvent, PatientVisit
from demo.identity_provider import RegisteredClient, demo_users
from tests.factories import PatientFactory, UserFactory, a_look
from tests.oidc_provider import running_provider, sign_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CLIENT_ID = "lcr-portal-nhs-login"
PASSWORD = "demo-patient-2026"


@pytest.fixture
def portal_key(settings):
    key = RSAKey.generate_key(2048, private=True)
    settings.LCR_OIDC_PRIVATE_KEY = key.as_pem(private=True).decode()
    return key


@pytest.fixture
def nhs_login(live_server, portal_key, population):
    client = RegisteredClient(
        client_id=CLIENT_ID,
        redirect_uris=[f"{live_server.url}/your-record/sign-in/callback/"],
        jwks_uri=f"{live_server.url}/oidc/jwks.json",
    )
    with running_provider("nhs-login", clients=[client], population=population) as provider:
        provider.row = IdentityProvider.objects.create(
            slug="nhs-login",
            name="NHS login (simulated)",
            issuer=provider.issuer,
            client_id=CLIENT_ID,
            scopes="openid profile nhs_number email",
            for_patients=True,
        )
        people = {user.username: user for user in demo_users("nhs-login", population)}
        provider.patients = {
            username: PatientFactory(
                nhs_number=person.nhs_number,
                given_names=person.given_name,
                family_name=person.family_name,
            )
            for username, person in people.items()
            if username != "patient-unknown"
        }
        yield provider


def through_nhs_login(live_server, username: str, browser=None):
    """A browser signing in: the portal's NHS login button, the provider's pages, back to the
    portal's callback. Returns the browser and the portal's answer to the callback."""
    browser = browser or requests.Session()
    start = browser.get(f"{live_server.url}/your-record/sign-in/nhs-login/", allow_redirects=False)
    assert start.status_code == 302, start.text[:300]
    back = sign_in(start.headers["Location"], username=username, password=PASSWORD, session=browser)
    return browser, browser.get(back.location, allow_redirects=False)


def on_own_pages(live_server, browser) -> bool:
    page = browser.get(f"{live_server.url}/your-record/", allow_redirects=False)
    return page.status_code == 200


def test_a_patient_proved_to_p9_signs_in_to_their_own_pages_and_is_no_user_here(
    live_server, nhs_login
):
    patient = nhs_login.patients["patient"]
    gp = UserFactory(username="grace.gp", first_name="Grace", last_name="Okafor")
    a_look(patient, gp)
    users = get_user_model().objects.count()

    browser, answer = through_nhs_login(live_server, "patient")

    assert answer.status_code == 302 and answer.headers["Location"] == "/your-record/"
    home = browser.get(f"{live_server.url}/your-record/")
    assert home.status_code == 200 and patient.formatted_nhs_number in home.text
    looks = browser.get(f"{live_server.url}/your-record/who-has-looked/")
    assert "Grace Okafor" in looks.text and "grace.gp" not in looks.text
    assert get_user_model().objects.count() == users  # a patient is not a user here
    assert not SignInSession.objects.exists()
    visits = list(PatientVisit.objects.filter(patient=patient).values_list("action", flat=True))
    assert sorted(visits) == ["read_looks", "signed_in"]
    assert AccessEvent.objects.count() == 1  # reading who looked is not a look


def test_a_patient_proved_only_to_p5_is_told_how_to_prove_who_they_are_and_not_signed_in(
    live_server, nhs_login
):
    browser, answer = through_nhs_login(live_server, "patient-p5")

    assert answer.status_code == 403
    assert "You need to prove who you are" in answer.text and "NHS App" in answer.text
    assert not on_own_pages(live_server, browser)
    assert not PatientVisit.objects.exists()


def test_a_downgraded_proofing_level_in_the_id_token_is_refused(live_server, nhs_login):
    nhs_login.fault_next_token("downgraded-assurance")  # P5 in the ID token itself
    browser, answer = through_nhs_login(live_server, "patient")
    assert answer.status_code == 403 and "prove who you are" in answer.text
    assert not on_own_pages(live_server, browser)


def test_an_nhs_number_the_register_does_not_hold_gets_a_clear_page_and_no_session(
    live_server, nhs_login
):
    browser, answer = through_nhs_login(live_server, "patient-unknown")

    assert answer.status_code == 403
    assert "We could not find your record" in answer.text
    assert "holds no record with your NHS number" in answer.text
    assert not on_own_pages(live_server, browser)


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("wrong-nonce", "it was not made for this sign-in (nonce)"),
        ("wrong-audience", "it was made for another service"),
        ("wrong-issuer", "it comes from another issuer"),
        ("wrong-signature", "its signature does not match"),
        ("expired", "it has expired"),
    ],
)
def test_an_id_token_the_portal_must_not_trust_gives_a_page_and_no_session(
    live_server, nhs_login, fault, words
):
    nhs_login.fault_next_token(fault)

    browser, answer = through_nhs_login(live_server, "patient")

    assert answer.status_code == 400
    assert "You have not been signed in" in answer.text and words in answer.text
    assert not on_own_pages(live_server, browser)
    assert not PatientVisit.objects.exists()


def test_a_signed_in_patient_reaches_no_staff_page_or_api(live_server, nhs_login):
    other = nhs_login.patients["patient2"]
    browser, _ = through_nhs_login(live_server, "patient")

    for path in ("/", "/patients/", f"/patients/{other.pk}/", f"/audit/patients/{other.pk}/",
                 "/audit/questions/", "/manage/patients/", "/break-glass/"):  # fmt: skip
        page = browser.get(f"{live_server.url}{path}", allow_redirects=False)
        assert page.status_code == 302 and page.headers["Location"].startswith("/sign-in/"), path
    api = browser.get(f"{live_server.url}/api/v1/fhir/Patient?identifier={other.nhs_number}")
    assert api.status_code == 401
    admin = browser.get(f"{live_server.url}/admin/", allow_redirects=False)
    assert admin.status_code == 302 and other.family_name not in admin.text


def test_the_patients_provider_signs_nobody_in_as_staff(live_server, nhs_login):
    staff_way = requests.get(
        f"{live_server.url}/sign-in/nhs-login/", allow_redirects=False, timeout=10
    )
    assert staff_way.status_code == 404
    sign_in_page = requests.get(f"{live_server.url}/sign-in/", timeout=10)
    assert "NHS login" not in sign_in_page.text


def test_signing_out_ends_the_patients_session(live_server, nhs_login):
    browser, _ = through_nhs_login(live_server, "patient")
    page = browser.get(f"{live_server.url}/your-record/")
    token = browser.cookies.get("csrftoken", "")
    out = browser.post(
        f"{live_server.url}/your-record/sign-out/",
        data={"csrfmiddlewaretoken": token},
        headers={"Referer": live_server.url},
        allow_redirects=False,
    )
    assert page.status_code == 200
    assert out.status_code == 302 and out.headers["Location"] == "/your-record/sign-in/"
    assert not on_own_pages(live_server, browser)
