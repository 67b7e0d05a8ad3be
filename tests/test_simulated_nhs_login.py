"""The simulated NHS login over real HTTP (demo/identity_provider.py, profile "nhs-login"): NHS
login's endpoint layout and claims, RS512 ID tokens, private_key_jwt only, a page marked as a
simulation, and the demo's patients (P9, P5, one the register does not hold)."""

import pytest
import requests
from joserfc import jwk, jwt

from demo.identity_provider import JWT_BEARER, RegisteredClient, demo_users
from tests.oidc_provider import (
    authorization_url,
    client_assertion,
    client_key,
    pkce_pair,
    running_provider,
    served_jwks,
    sign_in,
)

pytestmark = pytest.mark.integration

REDIRECT = "http://127.0.0.1:9/your-record/sign-in/callback/"
SCOPES = "openid profile nhs_number email"


@pytest.fixture(scope="module")
def key():
    return client_key("portal-key")


@pytest.fixture
def nhs_login(population, key):
    with served_jwks(key) as jwks_uri:
        client = RegisteredClient(
            client_id="lcr", redirect_uris=[REDIRECT], jwks_uri=jwks_uri, client_secret="s"
        )
        with running_provider("nhs-login", clients=[client], population=population) as provider:
            yield provider


def _code(provider, username):
    verifier, challenge = pkce_pair()
    url = authorization_url(
        provider, client_id="lcr", redirect_uri=REDIRECT, code_challenge=challenge, scope=SCOPES
    )
    result = sign_in(url, username=username, password="demo-patient-2026")
    return result.parameters["code"], verifier


def _exchange(provider, code, verifier, auth):
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier}  # fmt: skip
    return requests.post(provider.token_endpoint, data=form | auth, timeout=10)


def test_discovery_is_nhs_logins_layout_with_private_key_jwt_only_and_rs512(nhs_login):
    document = requests.get(nhs_login.discovery_url, timeout=10).json()
    assert document["issuer"] == nhs_login.origin
    assert document["token_endpoint"] == nhs_login.origin + "/token"
    assert document["jwks_uri"] == nhs_login.origin + "/.well-known/jwks.json"
    assert document["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert document["id_token_signing_alg_values_supported"] == ["RS512"]
    assert {"nhs_number", "identity_proofing_level", "vot"} <= set(document["claims_supported"])


def test_the_sign_in_page_says_it_is_a_simulation_and_lists_the_demo_patients(
    nhs_login, population
):
    _, challenge = pkce_pair()
    url = authorization_url(
        nhs_login, client_id="lcr", redirect_uri=REDIRECT, code_challenge=challenge, scope=SCOPES
    )
    page = requests.get(url, timeout=10).text
    assert "SIMULATION of NHS login" in page and "This is not the real NHS login" in page
    for patient in demo_users("nhs-login", population):
        assert patient.nhs_number in page and patient.proofing_level in page


def test_a_p9_patients_id_token_carries_nhs_logins_claims_signed_rs512(nhs_login, key, population):
    code, verifier = _code(nhs_login, "patient")
    assertion = client_assertion(
        key, client_id="lcr", audience=nhs_login.token_endpoint, alg="RS512"
    )
    answer = _exchange(
        nhs_login, code, verifier,
        {"client_assertion_type": JWT_BEARER, "client_assertion": assertion},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    token = answer.json()["id_token"]
    keys = jwk.KeySet.import_key_set(requests.get(nhs_login.origin + "/.well-known/jwks.json",
                                                  timeout=10).json())  # fmt: skip
    decoded = jwt.decode(token, keys, algorithms=["RS512"])
    claims = decoded.claims
    assert decoded.header["alg"] == "RS512"
    assert claims["identity_proofing_level"] == "P9" and claims["vot"] == "P9.Cp.Cd"
    assert claims["nhs_number"] == population.people[0].nhs_number
    assert claims["birthdate"] == population.people[0].birth_date.isoformat()
    assert claims["nonce"] == "nonce-1" and claims["jti"]


def test_a_client_secret_is_refused_as_nhs_login_refuses_it(nhs_login):
    code, verifier = _code(nhs_login, "patient")
    answer = _exchange(nhs_login, code, verifier, {"client_id": "lcr", "client_secret": "s"})
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
