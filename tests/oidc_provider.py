"""Test helpers for the simulated identity providers (demo/identity_provider.py): start one on a
free loopback port, sign client assertions, make PKCE pairs, receive back-channel logouts, and sign
in through the provider's pages with `requests` as a browser would.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests
from joserfc import jwk, jwt

from demo.identity_provider import (
    IdentityProviderUser,
    RegisteredClient,
    SimulatedIdentityProvider,
    demo_users,
)
from demo.population import Population
from demo.sources import LoopbackServer


@contextlib.contextmanager
def running_provider(
    profile: str,
    *,
    clients: list[RegisteredClient],
    users: list[IdentityProviderUser] | None = None,
    population: Population | None = None,
) -> Iterator[SimulatedIdentityProvider]:
    """A provider for `profile` on a free loopback port, stopped on leaving the block. Users are
    `users`, or the demo's users for `population`."""
    if users is None:
        if population is None:
            raise ValueError("give users or a population for the demo users")
        users = demo_users(profile, population)
    provider = SimulatedIdentityProvider(
        "127.0.0.1", 0, profile=profile, users=users, clients=clients
    )
    with provider:
        yield provider


def client_key(kid: str = "") -> jwk.RSAKey:
    """A new RSA key for a relying party or partner system, with a kid."""
    return jwk.RSAKey.generate_key(2048, parameters={"kid": kid or secrets.token_hex(8)})


def public_jwks(*keys: jwk.RSAKey) -> dict[str, Any]:
    """The public JWKS of `keys`, as a client registers or serves it."""
    # No "alg": the key may sign with any RSA algorithm (the relying party uses RS512).
    return {"keys": [key.as_dict(private=False) | {"use": "sig"} for key in keys]}


def client_assertion(
    key: jwk.RSAKey,
    *,
    client_id: str,
    audience: str,
    lifetime: int = 60,
    jti: str = "",
    now: float | None = None,
    alg: str = "RS256",
    **extra: Any,
) -> str:
    """A private_key_jwt client assertion (RFC 7523 section 3): iss = sub = client_id, signed with
    `key` (its kid in the header). `extra` adds or overrides claims (`iss=...`, `exp=...`)."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": jti or secrets.token_urlsafe(16),
    } | extra
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=[alg])


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, code_challenge) for PKCE S256 (RFC 7636 4.1 and 4.2)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class BackchannelReceiver(LoopbackServer):
    """A tiny relying party endpoint on loopback that records the back-channel logout POSTs it
    receives and answers each with `status`."""

    def __init__(self, status: int = 200) -> None:
        self.host, self.port, self.status = "127.0.0.1", 0, status
        self.received: list[dict[str, str]] = []
        self._serve_init()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{self.host}:{self._server.server_port}/backchannel-logout"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode() if length else ""
        self.received.append(
            {
                "method": environ["REQUEST_METHOD"],
                "content_type": environ.get("CONTENT_TYPE", ""),
                **{k: v[-1] for k, v in parse_qs(body).items()},
            }
        )
        start_response(f"{self.status} {HTTPStatus(self.status).phrase}", [("Content-Length", "0")])
        return [b""]


class _JsonServer(LoopbackServer):
    """Serves one JSON document (a client's JWKS) on loopback."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.host, self.port, self.document = "127.0.0.1", 0, document
        self._serve_init()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{self.host}:{self._server.server_port}/jwks.json"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        payload = json.dumps(self.document).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [payload]


@contextlib.contextmanager
def served_jwks(*keys: jwk.RSAKey) -> Iterator[str]:
    """A jwks_uri serving the public keys of `keys`, for the block's duration."""
    with _JsonServer(public_jwks(*keys)) as server:
        yield server.url


@dataclass
class SignIn:
    """What came back to the client at the end of a sign-in: the redirect's parameters."""

    location: str
    parameters: dict[str, str]
    session: requests.Session


_HIDDEN = re.compile(r'name="request" value="([^"]*)"')
_ERROR = re.compile(r'class="error" role="alert">([^<]*)<')
_ROLE = re.compile(r'name="role" value="([^"]*)"')


def authorization_url(
    provider: SimulatedIdentityProvider,
    *,
    client_id: str,
    redirect_uri: str,
    code_challenge: str,
    state: str = "state-1",
    nonce: str = "nonce-1",
    scope: str = "openid profile email nationalrbacaccess",
    **extra: str,
) -> str:
    parameters = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    } | extra
    return provider.authorization_endpoint + "?" + urlencode(parameters)


def sign_in(
    url: str,
    *,
    username: str,
    password: str,
    method: str = "smartcard",
    role_index: int = 0,
    session: requests.Session | None = None,
    action: str = "sign-in",
) -> SignIn:
    """Follow `url` (an authorization request) through the sign-in and role pages as a browser
    would, stopping at the redirect back to the client."""
    session = session or requests.Session()
    page = session.get(url, allow_redirects=False)
    if page.status_code != 302:
        request_id = _find(_HIDDEN, page.text)
        form = {"request": request_id, "username": username, "password": password}
        page = session.post(
            urljoin(url, urlsplit(url).path),
            data=form | {"method": method, "action": action},
            allow_redirects=False,
        )
        if page.status_code == 200 and _ROLE.search(page.text):
            roles = _ROLE.findall(page.text)
            page = session.post(
                urljoin(url, urlsplit(url).path),
                data={"request": request_id, "role": roles[role_index], "action": "select-role"},
                allow_redirects=False,
            )
    if page.status_code != 302:
        shown = _ERROR.search(page.text)
        why = unescape(shown.group(1)) if shown else page.text[:500]
        raise AssertionError(f"sign-in did not redirect: {page.status_code} {why}")
    location = page.headers["Location"]
    parameters = {k: v[-1] for k, v in parse_qs(urlsplit(location).query).items()}
    return SignIn(location, parameters, session)


def _find(pattern: re.Pattern[str], text: str) -> str:
    match = pattern.search(text)
    if match is None:
        raise AssertionError(f"not a sign-in page: {text[:500]}")
    return unescape(match.group(1))
