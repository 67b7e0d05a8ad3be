"""The simulated identity providers over real HTTP: discovery, keys, the code flow with PKCE,
client authentication, userinfo, logout (RP-initiated and back-channel) and injected faults."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time

import pytest
import requests
from joserfc import jwk, jwt

from demo.identity_provider import (
    BACKCHANNEL_EVENT,
    DEFAULT_TENANT_ID,
    JWT_BEARER,
    RegisteredClient,
    demo_role_codes,
)
from tests.oidc_provider import (
    BackchannelReceiver,
    authorization_url,
    client_assertion,
    client_key,
    pkce_pair,
    public_jwks,
    running_provider,
    served_jwks,
    sign_in,
)

pytestmark = pytest.mark.integration

TIMEOUT = 10


def _get(url, **options):
    return requests.get(url, timeout=TIMEOUT, **options)


def _post(url, **options):
    return requests.post(url, timeout=TIMEOUT, **options)


REDIRECT = "http://127.0.0.1:9/oidc/callback"
AFTER_LOGOUT = "http://127.0.0.1:9/signed-out"


@pytest.fixture(scope="module")
def key():
    return client_key("rp-key-1")


@pytest.fixture
def receiver():
    with BackchannelReceiver() as server:
        yield server


@pytest.fixture
def cis2(population, key, receiver):
    with served_jwks(key) as jwks_uri:
        client = RegisteredClient(
            client_id="lcr",
            redirect_uris=[REDIRECT],
            post_logout_redirect_uris=[AFTER_LOGOUT],
            backchannel_logout_uri=receiver.url,
            jwks_uri=jwks_uri,
        )
        with running_provider("cis2", clients=[client], population=population) as provider:
            yield provider


@pytest.fixture
def council(population, receiver):
    client = RegisteredClient(
        client_id="lcr-council",
        redirect_uris=[REDIRECT],
        backchannel_logout_uri=receiver.url,
        client_secret="council-secret",
    )
    with running_provider("council", clients=[client], population=population) as provider:
        yield provider


def _assertion_form(provider, key, **claims):
    assertion = client_assertion(key, client_id="lcr", audience=provider.token_endpoint, **claims)
    return {"client_assertion_type": JWT_BEARER, "client_assertion": assertion}


def _code(provider, username, password, *, client_id="lcr", method="smartcard", **extra):
    verifier, challenge = pkce_pair()
    url = authorization_url(
        provider, client_id=client_id, redirect_uri=REDIRECT, code_challenge=challenge, **extra
    )
    result = sign_in(url, username=username, password=password, method=method)
    return result, verifier


def _exchange(provider, code, verifier, auth, **extra):
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    return _post(provider.token_endpoint, data=form | {"code_verifier": verifier} | auth | extra)


def _tokens(provider, key, username="gp", password="demo-gp-2026", **extra):  # noqa: S107
    result, verifier = _code(provider, username, password, **extra)
    response = _exchange(
        provider, result.parameters["code"], verifier, _assertion_form(provider, key)
    )
    assert response.status_code == 200, response.text
    return response.json(), result


def _claims(provider, id_token):
    keys = jwk.KeySet.import_key_set(_get(provider.metadata()["jwks_uri"]).json())
    return jwt.decode(id_token, keys).claims


def test_discovery_document_describes_cis2(cis2):
    document = _get(cis2.discovery_url).json()
    assert document["issuer"] == cis2.issuer
    assert cis2.issuer.endswith("/openam/oauth2/realms/root/realms/oidc")
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert "private_key_jwt" in document["token_endpoint_auth_methods_supported"]
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "AAL3_ANY" in document["acr_values_supported"]
    for endpoint in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert document[endpoint].startswith(cis2.origin)


def test_council_issuer_is_its_tenant(council):
    document = _get(council.discovery_url).json()
    assert document["issuer"] == f"{council.origin}/{DEFAULT_TENANT_ID}/v2.0"


def test_jwks_has_one_rsa_key_with_a_kid(cis2):
    keys = _get(cis2.metadata()["jwks_uri"]).json()["keys"]
    assert [(k["kty"], k["kid"]) for k in keys] == [("RSA", cis2.key.kid)]
    assert "d" not in keys[0]


def test_sign_in_page_says_it_is_a_simulation_and_lists_demo_users(cis2):
    _, challenge = pkce_pair()
    url = authorization_url(cis2, client_id="lcr", redirect_uri=REDIRECT, code_challenge=challenge)
    page = _get(url)
    assert page.status_code == 200
    assert page.text.index("SIMULATION") < page.text.index("<h1>")
    assert "demo-gp-2026" in page.text and "Smartcard (AAL3)" in page.text
    assert "Password and security key (AAL2)" in page.text
    assert "style=" not in page.text and "https://" not in page.text


def test_full_code_flow_with_pkce_and_private_key_jwt(cis2, key, population):
    tokens, result = _tokens(cis2, key)
    assert result.parameters["state"] == "state-1"
    assert result.parameters["iss"] == cis2.issuer
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0
    claims = _claims(cis2, tokens["id_token"])
    assert claims["iss"] == cis2.issuer and claims["aud"] == "lcr"
    assert claims["nonce"] == "nonce-1" and claims["sid"]
    assert claims["sub"] == claims["uid"] == "555000000101"
    assert claims["acr"] == "AAL3_ANY" and claims["authentication_assurance_level"] == "3"
    assert claims["id_assurance_level"] == "3"
    info = _get(
        cis2.metadata()["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    ).json()
    practice = population.people[0].gp_practice.ods_code
    [role] = info["nhsid_nrbac_roles"]
    assert role["org_code"] == practice and role["role_code"] == "S8000:G8000:R8000"
    assert set(role) == {"person_orgid", "person_roleid", "org_code", "role_name", "role_code"}
    assert claims["selected_roleid"] == role["person_roleid"]
    assert info["nhsid_useruid"] == info["sub"] == claims["sub"]
    assert demo_role_codes(population)["gp"][0][:2] == (practice, "S8000:G8000:R8000")


def test_password_and_security_key_is_aal2(cis2, key):
    tokens, _ = _tokens(cis2, key, method="security-key")
    claims = _claims(cis2, tokens["id_token"])
    assert claims["acr"] == "AAL2_ANY" and claims["authentication_assurance_level"] == "2"


def test_aal3_request_refuses_the_password_sign_in(cis2):
    _, challenge = pkce_pair()
    url = authorization_url(
        cis2,
        client_id="lcr",
        redirect_uri=REDIRECT,
        code_challenge=challenge,
        acr_values="AAL3_ANY",
    )
    with pytest.raises(AssertionError, match="smartcard"):
        sign_in(url, username="gp", password="demo-gp-2026", method="security-key")


def test_user_with_two_roles_chooses_one(cis2, key):
    result, verifier = _code(cis2, "nurse2roles", "demo-nurse2roles-2026")
    tokens = _exchange(cis2, result.parameters["code"], verifier, _assertion_form(cis2, key)).json()
    info = _get(
        cis2.metadata()["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    ).json()
    assert len(info["nhsid_nrbac_roles"]) == 2
    first = info["nhsid_nrbac_roles"][0]
    assert _claims(cis2, tokens["id_token"])["selected_roleid"] == first["person_roleid"]


def test_council_flow_with_client_secret_basic(council):
    result, verifier = _code(council, "social", "demo-social-2026", client_id="lcr-council")
    basic = base64.b64encode(b"lcr-council:council-secret").decode()
    form = {"grant_type": "authorization_code", "code": result.parameters["code"]}
    form |= {"redirect_uri": REDIRECT, "code_verifier": verifier}
    tokens = _post(
        council.token_endpoint, data=form, headers={"Authorization": f"Basic {basic}"}
    ).json()
    claims = _claims(council, tokens["id_token"])
    assert claims["roles"] == ["SocialWorker"] and claims["amr"] == ["pwd", "mfa"]
    assert claims["tid"] == DEFAULT_TENANT_ID and claims["oid"] and claims["nbf"]
    info = _get(
        council.metadata()["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    ).json()
    assert set(info) == {"sub", "name", "email"}


def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(cis2):
    _, challenge = pkce_pair()
    url = authorization_url(
        cis2, client_id="lcr", redirect_uri="http://evil.example/cb", code_challenge=challenge
    )
    response = _get(url, allow_redirects=False)
    assert response.status_code == 400 and "Location" not in response.headers


@pytest.mark.parametrize(
    "change, error",
    [
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_bad_authorization_requests_are_refused_by_redirect(cis2, change, error):
    url = authorization_url(
        cis2,
        client_id="lcr",
        redirect_uri=REDIRECT,
        **({"code_challenge": pkce_pair()[1]} | change),
    )
    response = _get(url, allow_redirects=False)
    assert response.status_code == 302
    assert f"error={error}" in response.headers["Location"]
    assert "state=state-1" in response.headers["Location"]


def test_cancel_returns_access_denied(cis2):
    _, challenge = pkce_pair()
    url = authorization_url(cis2, client_id="lcr", redirect_uri=REDIRECT, code_challenge=challenge)
    result = sign_in(url, username="", password="", action="cancel")
    assert result.parameters["error"] == "access_denied"


def test_wrong_password_shows_the_form_again(cis2):
    _, challenge = pkce_pair()
    url = authorization_url(cis2, client_id="lcr", redirect_uri=REDIRECT, code_challenge=challenge)
    with pytest.raises(AssertionError, match="Wrong username or password"):
        sign_in(url, username="gp", password="not-it")


def test_code_is_single_use_and_needs_the_verifier(cis2, key):
    result, verifier = _code(cis2, "gp", "demo-gp-2026")
    code = result.parameters["code"]
    wrong = _exchange(cis2, code, pkce_pair()[0], _assertion_form(cis2, key))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    result, verifier = _code(cis2, "gp", "demo-gp-2026")
    code = result.parameters["code"]
    assert _exchange(cis2, code, verifier, _assertion_form(cis2, key)).status_code == 200
    again = _exchange(cis2, code, verifier, _assertion_form(cis2, key))
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "change",
    [
        {"signed_by_another_key": True},
        {"aud": "http://127.0.0.1/not-the-token-endpoint"},
        {"exp": int(time.time()) + 3600},
        {"exp": int(time.time()) - 300},
        {"sub": "someone-else"},
    ],
)
def test_bad_client_assertions_are_refused(cis2, key, change):
    result, verifier = _code(cis2, "gp", "demo-gp-2026")
    signer = client_key(key.kid) if change.pop("signed_by_another_key", False) else key
    response = _exchange(
        cis2, result.parameters["code"], verifier, _assertion_form(cis2, signer, **change)
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_rs512_assertions_are_accepted_as_cis2_asks_for_them(cis2, key):
    result, verifier = _code(cis2, "gp", "demo-gp-2026")
    auth = _assertion_form(cis2, key, alg="RS512", lifetime=300)
    assert _exchange(cis2, result.parameters["code"], verifier, auth).status_code == 200


def test_reused_jti_is_refused(cis2, key):
    first, verifier = _code(cis2, "gp", "demo-gp-2026")
    auth = _assertion_form(cis2, key, jti="once-only")
    assert _exchange(cis2, first.parameters["code"], verifier, auth).status_code == 200
    second, verifier = _code(cis2, "gp", "demo-gp-2026")
    response = _exchange(cis2, second.parameters["code"], verifier, auth)
    assert response.status_code == 401 and "jti" in response.json()["error_description"]


def test_no_client_authentication_is_invalid_client(cis2):
    result, verifier = _code(cis2, "gp", "demo-gp-2026")
    response = _exchange(cis2, result.parameters["code"], verifier, {"client_id": "lcr"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_userinfo_without_a_valid_token_is_401(cis2):
    response = _get(cis2.metadata()["userinfo_endpoint"], headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("via_http", [False, True])
@pytest.mark.parametrize(
    "fault",
    [
        "wrong-nonce",
        "wrong-audience",
        "wrong-issuer",
        "expired",
        "downgraded-assurance",
        "no-roles",
    ],
)
def test_each_fault_spoils_only_the_next_id_token(cis2, key, fault, via_http):
    if via_http:
        assert _post(f"{cis2.issuer}/simulator/faults", json={"fault": fault}).ok
    else:
        cis2.fault_next_token(fault)
    tokens, _ = _tokens(cis2, key)
    claims = _claims(cis2, tokens["id_token"])
    spoiled = {
        "wrong-nonce": claims.get("nonce") != "nonce-1",
        "wrong-audience": claims["aud"] != "lcr",
        "wrong-issuer": claims["iss"] != cis2.issuer,
        "expired": claims["exp"] < time.time(),
        "downgraded-assurance": claims["authentication_assurance_level"] == "1"
        and claims["acr"] == "AAL1_USERPASS",
        "no-roles": "selected_roleid" not in claims,
    }
    assert spoiled[fault]
    if fault == "no-roles":
        info = _get(
            cis2.metadata()["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        ).json()
        assert info["nhsid_nrbac_roles"] == []
    next_claims = _claims(cis2, _tokens(cis2, key)[0]["id_token"])
    assert next_claims["nonce"] == "nonce-1" and next_claims["aud"] == "lcr"


def test_wrong_signature_fault_uses_the_same_kid_and_another_key(cis2, key):
    cis2.fault_next_token("wrong-signature")
    tokens, _ = _tokens(cis2, key)
    keys = jwk.KeySet.import_key_set(_get(cis2.metadata()["jwks_uri"]).json())
    header = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[0] + "=="))
    assert header["kid"] == cis2.key.kid
    with pytest.raises(Exception, match="bad_signature"):
        jwt.decode(tokens["id_token"], keys)


def test_council_faults_downgrade_amr_and_empty_roles(council):
    for fault, check in (
        ("downgraded-assurance", lambda c: c["amr"] == ["pwd"]),
        ("no-roles", lambda c: c["roles"] == []),
    ):
        council.fault_next_token(fault)
        result, verifier = _code(council, "manager", "demo-manager-2026", client_id="lcr-council")
        form = {"grant_type": "authorization_code", "code": result.parameters["code"]}
        form |= {"redirect_uri": REDIRECT, "code_verifier": verifier}
        form |= {"client_id": "lcr-council", "client_secret": "council-secret"}
        tokens = _post(council.token_endpoint, data=form).json()
        assert check(_claims(council, tokens["id_token"]))


def test_back_channel_logout_reaches_the_client_for_each_session(cis2, key, receiver):
    _tokens(cis2, key)
    _tokens(cis2, key)  # a second browser, a second session
    response = _post(f"{cis2.issuer}/simulator/logout", json={"username": "gp"})
    deliveries = response.json()["deliveries"]
    assert [d["status"] for d in deliveries] == [200, 200]
    assert len(receiver.received) == 2
    sent = receiver.received[0]
    assert sent["content_type"].startswith("application/x-www-form-urlencoded")
    token = jwt.decode(
        sent["logout_token"],
        jwk.KeySet.import_key_set(_get(cis2.metadata()["jwks_uri"]).json()),
    )
    assert token.header["typ"] == "logout+jwt"
    assert token.claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert "nonce" not in token.claims and token.claims["aud"] == "lcr"
    assert {t["sid"] for t in deliveries} == {
        jwt.decode(r["logout_token"], jwk.KeySet.import_key_set(cis2.jwks())).claims["sid"]
        for r in receiver.received
    }
    assert _post(f"{cis2.issuer}/simulator/logout", json={"username": "gp"}).json() == {
        "deliveries": []
    }


def test_back_channel_logout_reports_the_clients_answer(cis2, key, receiver):
    receiver.status = 501
    _tokens(cis2, key)
    sub = "555000000101"
    deliveries = _post(f"{cis2.issuer}/simulator/logout", json={"sub": sub}).json()
    assert [d["status"] for d in deliveries["deliveries"]] == [501]


def test_sign_out_page_signs_the_user_out_everywhere(cis2, key, receiver):
    _, result = _tokens(cis2, key)
    page = result.session.get(f"{cis2.issuer}/simulator/sign-out")
    assert "SIMULATION" in page.text and 'value="gp" checked' in page.text
    page = result.session.post(f"{cis2.issuer}/simulator/sign-out", data={"username": "gp"})
    assert page.status_code == 200 and len(receiver.received) == 1


def test_end_session_ends_the_browser_session_and_returns_to_the_client(cis2, key):
    tokens, result = _tokens(cis2, key)
    end = cis2.metadata()["end_session_endpoint"]
    response = result.session.get(
        end,
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": AFTER_LOGOUT,
            "state": "bye",
        },
        allow_redirects=False,
    )
    assert response.status_code == 302
    assert response.headers["Location"] == AFTER_LOGOUT + "?state=bye"
    _, challenge = pkce_pair()
    url = authorization_url(
        cis2, client_id="lcr", redirect_uri=REDIRECT, code_challenge=challenge, prompt="none"
    )
    again = result.session.get(url, allow_redirects=False)
    assert "error=login_required" in again.headers["Location"]


def test_existing_session_signs_in_without_the_form(cis2, key):
    _, result = _tokens(cis2, key)
    _, challenge = pkce_pair()
    url = authorization_url(cis2, client_id="lcr", redirect_uri=REDIRECT, code_challenge=challenge)
    again = result.session.get(url, allow_redirects=False)
    assert again.status_code == 302 and "code=" in again.headers["Location"]


def test_end_session_refuses_an_unregistered_return_address(cis2, key):
    _, result = _tokens(cis2, key)
    response = result.session.get(
        cis2.metadata()["end_session_endpoint"],
        params={"client_id": "lcr", "post_logout_redirect_uri": "http://evil.example/"},
        allow_redirects=False,
    )
    assert response.status_code == 400


def test_client_keys_given_inline(population):
    key = client_key()
    client = RegisteredClient("inline", [REDIRECT], jwks=public_jwks(key))
    with running_provider("cis2", clients=[client], population=population) as provider:
        result, verifier = _code(provider, "ae", "demo-ae-2026", client_id="inline")
        assertion = client_assertion(key, client_id="inline", audience=provider.token_endpoint)
        auth = {"client_assertion_type": JWT_BEARER, "client_assertion": assertion}
        assert _exchange(provider, result.parameters["code"], verifier, auth).status_code == 200


def test_runs_as_a_command_as_the_demo_supervisor_starts_it(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(public_jwks(client_key())))
    command = [sys.executable, "-m", "demo.identity_provider", "--profile", "council"]
    command += ["--port", str(port), "--client-id", "lcr", "--redirect-uri", REDIRECT]
    command += ["--client-jwks", str(jwks_file), "--patients", "10"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        issuer = line.split()[-1]
        assert issuer == f"http://127.0.0.1:{port}/{DEFAULT_TENANT_ID}/v2.0"
        document = _get(issuer + "/.well-known/openid-configuration").json()
        assert document["issuer"] == issuer
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
