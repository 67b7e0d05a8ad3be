"""Partner systems authenticate at the token endpoint with a signed JWT (private_key_jwt, RFC
7523): a good assertion gets a token that reads as the client's team; every bad one, and every
JWKS URL that hangs or answers junk, is invalid_client (401) saying why; a jti is used once.
"""

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.core.cache import cache
from django.utils import timezone
from joserfc import jwk, jwt

from access import client_assertions, services
from access.client_assertions import JWT_BEARER, ClientKeyError
from access.exceptions import ApiClientError
from access.models import ApiClient, ClientAssertionUse, Role, Team
from access.tasks import forget_expired_sign_ins
from tests.api_helpers import bearer
from tests.factories import PatientFactory, UserFactory, make_team

pytestmark = pytest.mark.django_db

TOKEN_URL = "http://testserver/api/oauth/token/"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Fetched key sets and rate counts live in the cache: none carried between tests."""
    cache.clear()
    yield
    cache.clear()


def rsa_key(kid: str = "partner-1") -> jwk.RSAKey:
    return jwk.RSAKey.generate_key(2048, parameters={"kid": kid})


def jwks_of(*keys: jwk.RSAKey) -> dict:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def signed(key, client_id: str, *, aud: str = TOKEN_URL, exp_in: float = 120, **changes) -> str:
    """An assertion as NHS England describes it: RS512, kid, iss = sub = client_id, aud the
    token endpoint, exp within 5 minutes, a fresh jti. `changes` replace (None: drop) claims;
    `header` replaces the header."""
    header = changes.pop("header", {"alg": "RS512", "typ": "JWT", "kid": key.kid})
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "exp": int(now + exp_in),
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    claims.update(changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(header, claims, key, algorithms=[header["alg"]])


def form(assertion: str, **extra) -> dict:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
        **extra,
    }


class JwksServer:
    """A partner's JWKS URL on loopback, in a thread: it serves `jwks`, or misbehaves as `mode`
    says ("hang", "junk", "error"), and counts the fetches."""

    def __init__(self) -> None:
        self.jwks: dict = {"keys": []}
        self.mode = "ok"
        self.fetches = 0
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                if server.mode == "hang":
                    server.stopping.wait(10)
                    return
                status, body = {
                    "ok": (200, json.dumps(server.jwks).encode()),
                    "junk": (200, b"<html>not a key set</html>"),
                    "error": (500, b"{}"),
                }[server.mode]
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "JwksServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    with JwksServer() as server:
        yield server


@pytest.fixture
def world(db):
    team = make_team("Homerton A&E", Team.Kind.AE_DEPARTMENT, ods_code="RQX")
    related, unrelated = PatientFactory(), PatientFactory()
    services.start_relationship(
        patient=related,
        team=team,
        kind="current_episode",
        reason="in A&E",
        actor=UserFactory(username="setup-admin"),
    )
    return team, related, unrelated


def register(team, **keys) -> tuple[ApiClient, str]:
    return services.register_api_client(
        name="Homerton EPR",
        team=team,
        role=Role.AE_CLINICIAN,
        scopes=["patient.read"],
        actor=UserFactory(username="setup"),
        **keys,
    )


@pytest.fixture
def key() -> jwk.RSAKey:
    return rsa_key()


@pytest.fixture
def partner(world, key) -> ApiClient:
    """A partner system that uploaded its public key (no secret)."""
    client, secret = register(world[0], public_jwks=jwks_of(key))
    assert secret == ""
    return client


def client_id_of(api: ApiClient) -> str:
    return api.application.client_id


def refused_because(response) -> str:
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["error"] == "invalid_client"
    return body["error_description"]


# A good assertion


def test_a_signed_assertion_gets_a_token_that_reads_the_api_as_the_clients_team(
    client, world, partner, key
):
    _, related, unrelated = world
    response = client.post("/api/oauth/token/", form(signed(key, client_id_of(partner))))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "patient.read"
    headers = bearer(body["access_token"])
    assert client.get(f"/api/v1/fhir/Patient/{related.pk}/$summary", **headers).status_code == 200
    assert client.get(f"/api/v1/fhir/Patient/{unrelated.pk}/$summary", **headers).status_code == 404
    assert ClientAssertionUse.objects.filter(client=partner).count() == 1


def test_a_key_at_the_jwks_url_is_fetched_over_http_and_cached(client, world, key, jwks_server):
    jwks_server.jwks = jwks_of(key)
    partner, _ = register(world[0], jwks_uri=jwks_server.url)
    for _ in range(2):
        response = client.post("/api/oauth/token/", form(signed(key, client_id_of(partner))))
        assert response.status_code == 200, response.content
    assert jwks_server.fetches == 1


def test_an_unknown_kid_fetches_the_key_set_again_after_the_partner_rotates_its_key(
    client, world, key, jwks_server, monkeypatch
):
    jwks_server.jwks = jwks_of(key)
    partner, _ = register(world[0], jwks_uri=jwks_server.url)
    assert client.post("/api/oauth/token/", form(signed(key, client_id_of(partner)))).status_code
    rotated = rsa_key("partner-2")
    jwks_server.jwks = jwks_of(key, rotated)
    monkeypatch.setattr(client_assertions, "JWKS_REFETCH_AFTER_SECONDS", 0)
    response = client.post("/api/oauth/token/", form(signed(rotated, client_id_of(partner))))
    assert response.status_code == 200, response.content
    assert jwks_server.fetches == 2


def test_made_up_kids_do_not_make_us_fetch_the_key_set_on_every_request(
    client, world, key, jwks_server
):
    jwks_server.jwks = jwks_of(key)
    partner, _ = register(world[0], jwks_uri=jwks_server.url)
    for n in range(3):
        stranger = rsa_key(f"made-up-{n}")
        response = client.post("/api/oauth/token/", form(signed(stranger, client_id_of(partner))))
        assert "is not in the client's key set" in refused_because(response)
    assert jwks_server.fetches == 1  # fetched moments ago: not again within the refetch pause


# Every refusal is invalid_client, saying why


@pytest.mark.parametrize(
    "make, because",
    [
        (
            lambda key, cid: signed(rsa_key(key.kid), cid),
            "signature does not verify",
        ),
        (lambda key, cid: signed(rsa_key("someone-else"), cid), "not in the client's key set"),
        (lambda key, cid: signed(key, cid, aud="https://elsewhere/token"), "aud must be"),
        (lambda key, cid: signed(key, cid, aud=None), "aud must be"),
        (lambda key, cid: signed(key, cid, iss="another-client"), "sub must be the client_id"),
        (lambda key, cid: signed(key, cid, sub="another-client"), "sub must be the client_id"),
        (lambda key, cid: signed(key, cid, iss=None, sub=None), "iss must be the client_id"),
        (lambda key, cid: signed(key, cid, exp_in=-60), "has expired"),
        (lambda key, cid: signed(key, cid, exp_in=3600), "more than 5 minutes ahead"),
        (lambda key, cid: signed(key, cid, exp=None), "must have an exp"),
        (lambda key, cid: signed(key, cid, exp=float("nan")), "must have an exp"),
        (
            lambda key, cid: signed(
                jwk.ECKey.generate_key("P-256"), cid, header={"alg": "ES256", "kid": key.kid}
            ),
            "does not fit the client's key",
        ),
        (lambda key, cid: signed(key, cid, jti=None), "unique jti"),
        (lambda key, cid: signed(key, cid, jti="x" * 201), "unique jti"),
        (lambda key, cid: signed(key, cid, nbf=int(time.time()) + 600), "not valid yet"),
        (lambda key, cid: signed(key, "nobody-registered-this"), "No client is registered"),
        (
            lambda key, cid: signed(key, cid, header={"alg": "RS512", "typ": "JWT"}),
            "must name its key (kid)",
        ),
        (
            lambda key, cid: signed(
                jwk.OctKey.import_key("k" * 32), cid, header={"alg": "HS256", "kid": key.kid}
            ),
            "alg must be one of",
        ),
        (lambda key, cid: "not.a.jwt", "not a signed JWT"),
        (lambda key, cid: "", "not a signed JWT"),
    ],
    ids=[
        "bad-signature",
        "key-not-in-set",
        "wrong-aud",
        "no-aud",
        "wrong-iss",
        "wrong-sub",
        "no-iss",
        "expired",
        "exp-too-far",
        "no-exp",
        "exp-nan",
        "alg-not-the-keys",
        "no-jti",
        "jti-too-long",
        "not-yet-valid",
        "unknown-client",
        "no-kid",
        "hmac",
        "junk",
        "empty",
    ],
)
def test_a_bad_assertion_is_invalid_client_saying_why(client, partner, key, make, because):
    response = client.post("/api/oauth/token/", form(make(key, client_id_of(partner))))
    assert because in refused_because(response)
    assert not ClientAssertionUse.objects.exists()


def test_an_assertion_type_other_than_jwt_bearer_is_refused(client, partner, key):
    assertion = signed(key, client_id_of(partner))
    for wrong in ["urn:ietf:params:oauth:client-assertion-type:saml2-bearer", ""]:
        response = client.post("/api/oauth/token/", form(assertion, client_assertion_type=wrong))
        assert "client_assertion_type must be" in refused_because(response)
    response = client.post(
        "/api/oauth/token/",
        {"grant_type": "client_credentials", "client_assertion": assertion},
    )
    assert "client_assertion_type must be" in refused_because(response)


def test_a_switched_off_client_is_refused(client, partner, key):
    partner.active = False
    partner.save()
    response = client.post("/api/oauth/token/", form(signed(key, client_id_of(partner))))
    assert "switched off" in refused_because(response)


def test_a_client_whose_service_user_is_switched_off_is_refused(client, partner, key):
    partner.service_user.is_active = False
    partner.service_user.save()
    response = client.post("/api/oauth/token/", form(signed(key, client_id_of(partner))))
    assert "switched off" in refused_because(response)


def test_a_client_id_other_than_the_assertions_issuer_is_refused(client, world, partner, key):
    other, _ = register(world[0])
    response = client.post(
        "/api/oauth/token/",
        form(signed(key, client_id_of(partner)), client_id=client_id_of(other)),
    )
    assert "not the assertion's iss" in refused_because(response)


def test_an_assertion_and_a_secret_together_are_refused(client, world, key):
    both, secret = register(world[0], public_jwks=jwks_of(key), with_secret=True)
    response = client.post(
        "/api/oauth/token/",
        form(signed(key, client_id_of(both)), client_secret=secret),
    )
    assert "not both" in refused_because(response)


def test_a_client_without_keys_cannot_use_an_assertion(client, world, key):
    secret_only, _ = register(world[0])
    response = client.post("/api/oauth/token/", form(signed(key, client_id_of(secret_only))))
    assert "no public keys registered" in refused_because(response)


# The JWKS URL misbehaving


def test_a_jwks_url_that_hangs_is_refused_within_the_timeout(
    client, world, key, jwks_server, monkeypatch
):
    monkeypatch.setattr(client_assertions, "JWKS_TIMEOUT_SECONDS", 0.5)
    jwks_server.mode = "hang"
    partner, _ = register(world[0], jwks_uri=jwks_server.url)
    started = time.monotonic()
    response = client.post("/api/oauth/token/", form(signed(key, client_id_of(partner))))
    assert "did not answer within 0.5 s" in refused_because(response)
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("mode, because", [("junk", "is not JSON"), ("error", "answered HTTP 500")])
def test_a_jwks_url_that_answers_junk_or_an_error_is_refused(
    client, world, key, jwks_server, mode, because
):
    jwks_server.mode = mode
    partner, _ = register(world[0], jwks_uri=jwks_server.url)
    response = client.post("/api/oauth/token/", form(signed(key, client_id_of(partner))))
    assert because in refused_because(response)


def test_a_jwks_url_holding_a_private_key_or_nothing_useful_is_refused(
    client, world, key, jwks_server
):
    partner, _ = register(world[0], jwks_uri=jwks_server.url)
    for served, because in [
        ({"keys": [key.as_dict(private=True)]}, "private key"),
        ({"keys": "none"}, "list of public keys"),
        ([1, 2], "is not a JWKS"),
    ]:
        cache.clear()
        jwks_server.jwks = served
        response = client.post("/api/oauth/token/", form(signed(key, client_id_of(partner))))
        assert because in refused_because(response)


def test_a_jwks_url_nobody_answers_at_is_refused(client, world, key):
    with JwksServer() as gone:
        url = gone.url
    partner, _ = register(world[0], jwks_uri=url)
    response = client.post("/api/oauth/token/", form(signed(key, client_id_of(partner))))
    assert "could not be fetched" in refused_because(response)


def test_a_jwks_url_that_is_not_http_is_never_fetched(client, world, key):
    partner, _ = register(world[0], public_jwks=jwks_of(key))
    ApiClient.objects.filter(pk=partner.pk).update(public_jwks=None, jwks_uri="file:///etc/passwd")
    response = client.post("/api/oauth/token/", form(signed(key, client_id_of(partner))))
    assert "http or https" in refused_because(response)


# Secrets beside keys


def test_a_client_registered_with_keys_only_has_no_secret_to_guess(client, partner):
    for secret in ["", "anything"]:
        response = client.post(
            "/api/oauth/token/",
            {
                "grant_type": "client_credentials",
                "client_id": client_id_of(partner),
                "client_secret": secret,
            },
        )
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"


def test_a_client_with_keys_and_a_secret_may_use_either(client, world, key):
    both, secret = register(world[0], public_jwks=jwks_of(key), with_secret=True)
    assert secret
    by_secret = client.post(
        "/api/oauth/token/",
        {
            "grant_type": "client_credentials",
            "client_id": client_id_of(both),
            "client_secret": secret,
        },
    )
    assert by_secret.status_code == 200, by_secret.content
    by_key = client.post("/api/oauth/token/", form(signed(key, client_id_of(both))))
    assert by_key.status_code == 200, by_key.content


def test_a_keys_only_client_given_a_secret_later_has_it_hashed(client, partner):
    secret = services.rotate_api_client_secret(
        client=partner, reason="their gateway cannot sign", actor=UserFactory(username="ops")
    )
    partner.application.refresh_from_db()
    assert partner.application.client_secret != secret
    response = client.post(
        "/api/oauth/token/",
        {
            "grant_type": "client_credentials",
            "client_id": client_id_of(partner),
            "client_secret": secret,
        },
    )
    assert response.status_code == 200, response.content


def test_a_switched_off_client_gets_no_token_with_its_secret_either(client, world):
    secret_only, secret = register(world[0])
    secret_only.active = False
    secret_only.save()
    response = client.post(
        "/api/oauth/token/",
        {
            "grant_type": "client_credentials",
            "client_id": client_id_of(secret_only),
            "client_secret": secret,
        },
    )
    assert "switched off" in refused_because(response)


# A jti is used once


def test_a_replayed_assertion_is_refused(client, partner, key):
    assertion = signed(key, client_id_of(partner))
    assert client.post("/api/oauth/token/", form(assertion)).status_code == 200
    response = client.post("/api/oauth/token/", form(assertion))
    assert "jti has been used already" in refused_because(response)


def test_the_same_jti_from_two_clients_is_two_uses(client, world, partner, key):
    other_key = rsa_key("other")
    other, _ = register(world[0], public_jwks=jwks_of(other_key))
    jti = "shared-jti"
    first = client.post("/api/oauth/token/", form(signed(key, client_id_of(partner), jti=jti)))
    second = client.post("/api/oauth/token/", form(signed(other_key, client_id_of(other), jti=jti)))
    assert first.status_code == second.status_code == 200


def test_used_assertions_are_forgotten_in_the_expiry_sweep_once_they_expire(partner):
    now = timezone.now()
    ClientAssertionUse.objects.create(client=partner, jti="old", expires_at=now - timedelta(1))
    ClientAssertionUse.objects.create(client=partner, jti="live", expires_at=now + timedelta(1))
    assert forget_expired_sign_ins()["client_assertions"] == 1
    assert list(ClientAssertionUse.objects.values_list("jti", flat=True)) == ["live"]


def race(url: str, assertion: str, racers: int = 2) -> list[int]:
    """POST the same assertion from `racers` threads released together."""
    start = threading.Barrier(racers)

    def post(_: int) -> int:
        start.wait()
        return requests.post(url, data=form(assertion), timeout=30).status_code

    with ThreadPoolExecutor(max_workers=racers) as pool:
        return sorted(pool.map(post, range(racers)))


@pytest.mark.django_db(transaction=True)
def test_the_same_assertion_sent_twice_at_once_gets_one_token_serialised(live_server, key):
    """One after the other, the second sees the first's use; raced from two threads (below),
    the unique constraint decides."""
    team = make_team("Homerton A&E", Team.Kind.AE_DEPARTMENT, ods_code="RQX")
    partner, _ = register(team, public_jwks=jwks_of(key))
    url = f"{live_server.url}/api/oauth/token/"
    assertion = signed(key, client_id_of(partner), aud=url)
    statuses = [requests.post(url, data=form(assertion), timeout=30).status_code for _ in "ab"]
    assert statuses == [200, 401]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_same_assertion_raced_from_two_threads_gets_exactly_one_token(live_server, key):
    team = make_team("Homerton A&E", Team.Kind.AE_DEPARTMENT, ods_code="RQX")
    partner, _ = register(team, public_jwks=jwks_of(key))
    url = f"{live_server.url}/api/oauth/token/"
    for _ in range(20):
        assert race(url, signed(key, client_id_of(partner), aud=url)) == [200, 401]
    assert ClientAssertionUse.objects.filter(client=partner).count() == 20


# Registration


def test_a_pem_public_key_is_registered_as_a_jwks_with_its_thumbprint_as_kid(client, world):
    key = rsa_key()
    partner, secret = register(world[0], public_jwks=key.as_pem(private=False))
    assert secret == ""
    [stored] = partner.public_jwks["keys"]
    thumbprint = jwk.RSAKey.import_key(key.as_dict(private=False)).thumbprint()
    assert stored["kid"] == thumbprint and "d" not in stored
    as_registered = jwk.RSAKey.import_key(key.as_dict(private=True), {"kid": thumbprint})
    response = client.post("/api/oauth/token/", form(signed(as_registered, client_id_of(partner))))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "keys, because",
    [
        (lambda key: key.as_pem(private=True), "private key"),
        (lambda key: jwks_of(key) | {"keys": [key.as_dict(private=True)]}, "private key"),
        (lambda key: {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]}, "cannot sign"),
        (lambda key: {"keys": [key.as_dict(private=False) | {"kid": ""}]}, "needs a kid"),
        (lambda key: "not a key", "Not a public key"),
        (lambda key: {"keys": []}, "list of public keys"),
    ],
    ids=["private-pem", "private-jwk", "symmetric", "no-kid", "junk", "empty"],
)
def test_registration_refuses_anything_but_a_public_key_set(world, key, keys, because):
    with pytest.raises(ClientKeyError, match=because):
        register(world[0], public_jwks=keys(key))
    assert not ApiClient.objects.exists()


def test_registration_refuses_a_jwks_url_that_is_not_http_or_both_kinds_of_key(world, key):
    with pytest.raises(ClientKeyError, match="http or https"):
        register(world[0], jwks_uri="file:///etc/jwks.json")
    with pytest.raises(ApiClientError, match="not both"):
        register(world[0], jwks_uri="https://partner.example/jwks", public_jwks=jwks_of(key))
    with pytest.raises(ApiClientError, match="secret or public keys"):
        register(world[0], with_secret=False)


@pytest.fixture
def administrator(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def change_page(partner: ApiClient) -> str:
    return f"/admin/access/apiclient/{partner.pk}/change/"


def admin_form(partner: ApiClient, **changes) -> dict:
    return {
        "name": partner.name,
        "scopes": json.dumps(partner.scopes),
        "rate": partner.rate,
        "active": "on",
        "jwks_uri": partner.jwks_uri,
        "public_jwks": json.dumps(partner.public_jwks) if partner.public_jwks else "",
        **changes,
    }


def test_the_admin_takes_an_uploaded_public_key(administrator, world, partner):
    from django.core.files.uploadedfile import SimpleUploadedFile

    new_key = rsa_key("uploaded")
    upload = SimpleUploadedFile("key.json", json.dumps(jwks_of(new_key)).encode())
    response = administrator.post(change_page(partner), admin_form(partner, public_key_file=upload))
    assert response.status_code == 302, response.content.decode()[:2000]
    partner.refresh_from_db()
    assert [k["kid"] for k in partner.public_jwks["keys"]] == ["uploaded"]


def test_the_admin_refuses_a_private_key_saying_so(administrator, world, partner, key):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("key.pem", key.as_pem(private=True))
    response = administrator.post(change_page(partner), admin_form(partner, public_key_file=upload))
    assert response.status_code == 200
    assert "This is a private key" in response.content.decode()
    partner.refresh_from_db()
    assert partner.public_jwks == jwks_of(key)


def test_the_admin_refuses_a_jwks_url_beside_keys_or_not_http(administrator, partner):
    both = administrator.post(
        change_page(partner), admin_form(partner, jwks_uri="https://partner.example/jwks")
    )
    assert "not both" in both.content.decode()
    ftp = administrator.post(
        change_page(partner),
        admin_form(partner, jwks_uri="ftp://partner.example/jwks", public_jwks=""),
    )
    assert "http or https" in ftp.content.decode()
    partner.refresh_from_db()
    assert partner.jwks_uri == ""
