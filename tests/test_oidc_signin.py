"""Signing in through OpenID Connect, over real HTTP: the portal (Django's live server) and the
simulated CIS2 and council providers (demo/identity_provider.py) on loopback, a browser's part
played by `requests`. A good sign-in lands on the portal in its mapped team; every token the
portal must not trust (wrong nonce, audience, issuer, signature, expired, a weaker sign-in than
the role needs) gives a page saying so and no session; back-channel logout ends the session.
"""

import re

import pytest
import requests
from django.conf import settings
from joserfc.jwk import RSAKey
from markupsafe import escape

from access.models import IdentityProvider, Membership, RoleMapping, SignInSession, Team
from access.services.sign_in import ProviderRole
from demo.identity_provider import RegisteredClient, demo_role_codes
from tests.factories import PatientFactory, make_team
from tests.oidc_provider import running_provider, sign_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CLIENT_ID = "lcr-portal.apps.national"


@pytest.fixture
def portal_key(settings):
    key = RSAKey.generate_key(2048, private=True)
    settings.LCR_OIDC_PRIVATE_KEY = key.as_pem(private=True).decode()
    settings.LCR_PASSWORD_SIGN_IN = "off"
    return key


def registered(live_server, slug: str) -> RegisteredClient:
    """The portal as the provider knows it: its callback, its back-channel logout address and
    its JWKS URL (fetched by the provider at each token request, as CIS2 does)."""
    return RegisteredClient(
        client_id=CLIENT_ID,
        redirect_uris=[f"{live_server.url}/sign-in/{slug}/callback/"],
        post_logout_redirect_uris=[f"{live_server.url}/sign-in/?signed-out"],
        backchannel_logout_uri=f"{live_server.url}/oidc/{slug}/backchannel-logout/",
        jwks_uri=f"{live_server.url}/oidc/jwks.json",
    )


@pytest.fixture
def cis2(live_server, portal_key, population):
    with running_provider(
        "cis2", clients=[registered(live_server, "cis2")], population=population
    ) as provider:
        row = IdentityProvider.objects.create(
            slug="cis2",
            name="NHS CIS2 (simulated)",
            issuer=provider.issuer,
            client_id=CLIENT_ID,
            scopes="openid profile email nationalrbacaccess selectedrole",
            acr_values="AAL3_ANY",
        )
        codes = demo_role_codes(population)
        teams = {
            "practice": make_team(
                "The practice", Team.Kind.GP_PRACTICE, ods_code=codes["gp"][0][0]
            ),
            "ae": make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT"),
            "office": make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR01"),
        }
        for username, team, role in (
            ("gp", "practice", "gp"),
            ("ae", "ae", "ae_clinician"),
            ("admin", "office", "administrator"),
        ):
            organisation, code, name = codes[username][0]
            RoleMapping.objects.create(
                provider=row, organisation=organisation,
                rbac_code=ProviderRole(organisation, code).rbac_code,
                role_name=name, team=teams[team], role=role,
            )  # fmt: skip
        provider.row, provider.teams = row, teams
        yield provider


def through_provider(live_server, slug: str, username: str, password: str, **kwargs):
    """A browser signing in: the portal's sign-in address, the provider's pages, back to the
    portal's callback. Returns the browser and the portal's answer to the callback."""
    browser = requests.Session()
    start = browser.get(f"{live_server.url}/sign-in/{slug}/", allow_redirects=False)
    assert start.status_code == 302, start.text[:300]
    back = sign_in(
        start.headers["Location"],
        username=username,
        password=password,
        session=browser,
        **kwargs,
    )
    answer = browser.get(back.location, allow_redirects=False)
    return browser, answer


def signed_in(live_server, browser) -> bool:
    home = browser.get(f"{live_server.url}/", allow_redirects=False)
    return home.status_code == 200


def test_a_gp_signs_in_through_cis2_into_their_mapped_team(live_server, cis2):
    browser, answer = through_provider(live_server, "cis2", "gp", "demo-gp-2026")

    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    assert signed_in(live_server, browser)
    membership = Membership.objects.select_related("user").get()
    assert (membership.team, membership.role) == (cis2.teams["practice"], "gp")
    session = SignInSession.objects.get()
    assert session.user == membership.user and session.assurance == 3 and session.sid
    assert membership.user.first_name == "Grace"  # from the provider's claims


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("wrong-nonce", "it was not made for this sign-in (nonce)"),
        ("wrong-audience", "it was made for another service"),
        ("wrong-issuer", "it comes from another issuer"),
        ("expired", "it has expired"),
        ("wrong-signature", "its signature does not match"),
    ],
)
def test_an_id_token_the_portal_must_not_trust_gives_a_page_and_no_session(
    live_server, cis2, fault, words
):
    cis2.fault_next_token(fault)

    browser, answer = through_provider(live_server, "cis2", "gp", "demo-gp-2026")

    assert answer.status_code == 400
    assert "You have not been signed in" in answer.text, answer.text
    assert words in answer.text, re.search(r"sign-in-failure\">([^<]*)", answer.text).group(1)
    assert not signed_in(live_server, browser)
    assert not SignInSession.objects.exists()


def test_a_security_key_sign_in_for_a_clinical_role_is_refused_as_too_weak(live_server, cis2):
    # A deployment whose social care staff use CIS2 too asks for AAL2 or better: the role's own
    # level (AAL3 for a GP) still holds.
    cis2.row.acr_values = "AAL2_OR_AAL3_ANY"
    cis2.row.save()
    browser, answer = through_provider(
        live_server, "cis2", "gp", "demo-gp-2026", method="security-key"
    )

    assert answer.status_code == 403
    assert "stronger sign-in" in answer.text and "smartcard" in answer.text
    assert not signed_in(live_server, browser)
    assert not Membership.objects.exists()


def test_a_downgraded_assurance_in_the_token_is_refused(live_server, cis2):
    cis2.fault_next_token("downgraded-assurance")
    browser, answer = through_provider(live_server, "cis2", "gp", "demo-gp-2026")
    assert answer.status_code == 403 and "stronger sign-in" in answer.text
    assert not signed_in(live_server, browser)


def test_an_unmapped_role_signs_in_to_a_page_saying_who_to_ask_and_sees_no_patient(
    live_server, cis2
):
    patient = PatientFactory()
    browser, answer = through_provider(live_server, "cis2", "student", "demo-student-2026")

    assert answer.headers["Location"] == "/sign-in/no-role/"
    page = browser.get(f"{live_server.url}/sign-in/no-role/")
    assert "Your role is not set up" in page.text and "S8000:G8000:R8004" in page.text
    assert str(escape(settings.LCR_SIGN_IN_HELP)) in page.text
    record = browser.get(f"{live_server.url}/patients/{patient.pk}/", allow_redirects=False)
    assert record.status_code == 404
    assert not Membership.objects.exists()


def test_an_administrator_signed_in_with_a_smartcard_needs_no_authenticator_app(live_server, cis2):
    browser, _ = through_provider(live_server, "cis2", "admin", "demo-admin-2026")
    page = browser.get(f"{live_server.url}/manage/patients/", allow_redirects=False)
    assert page.status_code == 200


def test_back_channel_logout_signs_the_user_out_at_their_next_request(live_server, cis2):
    browser, _ = through_provider(live_server, "cis2", "gp", "demo-gp-2026")
    other, _ = through_provider(live_server, "cis2", "ae", "demo-ae-2026")

    deliveries = cis2.sign_out_everywhere(username="gp")

    assert [delivery["status"] for delivery in deliveries] == [200]
    assert not signed_in(live_server, browser)
    assert signed_in(live_server, other)  # someone else's session is not touched
    assert SignInSession.objects.get().user.first_name == "Arjun"


def test_a_forged_logout_token_ends_nobody(live_server, cis2):
    browser, _ = through_provider(live_server, "cis2", "gp", "demo-gp-2026")
    forged = RSAKey.generate_key(2048, private=True)
    from joserfc import jwt

    token = jwt.encode(
        {"alg": "RS256", "kid": cis2.key.kid, "typ": "logout+jwt"},
        {"iss": cis2.issuer, "aud": CLIENT_ID, "iat": 1, "jti": "x", "sub": "555000000101",
         "events": {"http://schemas.openid.net/event/backchannel-logout": {}}},
        forged,
    )  # fmt: skip
    answer = requests.post(
        f"{live_server.url}/oidc/cis2/backchannel-logout/",
        data={"logout_token": token},
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert signed_in(live_server, browser)


def test_the_way_back_used_twice_is_refused(live_server, cis2):
    browser = requests.Session()
    start = browser.get(f"{live_server.url}/sign-in/cis2/", allow_redirects=False)
    back = sign_in(
        start.headers["Location"], username="gp", password="demo-gp-2026", session=browser
    )
    assert browser.get(back.location, allow_redirects=False).status_code == 302
    browser.post(f"{live_server.url}/sign-out/", headers={"Referer": live_server.url},
                 data={"csrfmiddlewaretoken": browser.cookies.get("csrftoken", "")})  # fmt: skip
    again = browser.get(back.location, allow_redirects=False)
    assert again.status_code == 400 and "already been used" in again.text


def test_a_provider_that_does_not_answer_gives_a_page_not_an_error(live_server, portal_key):
    IdentityProvider.objects.create(
        slug="gone", name="Gone CIS2", issuer="http://127.0.0.1:9/oidc", client_id=CLIENT_ID
    )
    answer = requests.get(f"{live_server.url}/sign-in/gone/", allow_redirects=False, timeout=10)
    assert answer.status_code == 502
    assert "Gone CIS2 did not answer in time or could not be reached" in answer.text


def test_a_social_worker_signs_in_through_their_councils_provider(live_server, portal_key):
    from demo.population import generate

    with running_provider(
        "council", clients=[registered(live_server, "riverside")], population=generate(patients=5)
    ) as council:
        row = IdentityProvider.objects.create(
            slug="riverside", name="Riverside Council (simulated)", issuer=council.issuer,
            client_id=CLIENT_ID, default_organisation="LBR",
            claims={"roles": "roles", "assurance": "amr",
                    "assurance_values": {"pwd": 1, "mfa": 2}},
        )  # fmt: skip
        team = make_team("Adult social care", Team.Kind.SOCIAL_CARE_TEAM, ods_code="LBR")
        RoleMapping.objects.create(
            provider=row, organisation="LBR", rbac_code="SocialWorker", team=team,
            role="social_worker",
        )  # fmt: skip
        _, answer = through_provider(live_server, "riverside", "social", "demo-social-2026")

    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    assert Membership.objects.get().role == "social_worker"
    assert SignInSession.objects.get().assurance == 2
