"""Client authentication at the simulated identity providers' token endpoint (RFC 6749 2.3):
private_key_jwt (RFC 7523, OpenID Connect Core 9), client_secret_post and client_secret_basic.

A client assertion is checked as a careful provider does: signed by a key of the client's JWKS,
iss = sub = client_id, aud the token endpoint, exp at most 5 minutes ahead, each jti used once.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from urllib.parse import unquote

import requests
from joserfc import jwk, jwt
from joserfc.errors import JoseError

from demo.identity_provider_users import RegisteredClient

logger = logging.getLogger(__name__)

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_MAX_LIFETIME = 300  # a client assertion may expire at most 5 minutes ahead
CLOCK_SKEW = 30
# Asymmetric algorithms only: CIS2 asks for RS512, NHS England's API platform RS512 too.
ASSERTION_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")


class ClientRefused(Exception):
    """The token endpoint's answer to a client it does not accept (RFC 6749 5.2)."""

    def __init__(self, status: int, error: str, description: str, *, basic: bool = False) -> None:
        super().__init__(description)
        self.status, self.error, self.description, self.basic = status, error, description, basic


class ClientAuthenticator:
    """Authenticates the registered `clients` (by client_id), remembering the jtis used."""

    def __init__(self, clients: dict[str, RegisteredClient]) -> None:
        self.clients = clients
        self._lock = threading.Lock()
        self._used_jti: dict[tuple[str, str], float] = {}

    def authenticate(
        self, form: dict[str, str], authorization: str, *, token_endpoint: str
    ) -> RegisteredClient:
        """The client the token request `form` (and its Authorization header) authenticates, by
        exactly one method (RFC 6749 2.3, RFC 7523 2.2); ClientRefused (invalid_client) if not."""
        basic = authorization
        methods = [
            name
            for name, used in (
                ("client_secret_basic", basic.lower().startswith("basic ")),
                ("client_secret_post", "client_secret" in form),
                ("private_key_jwt", "client_assertion" in form),
            )
            if used
        ]
        if len(methods) > 1:
            raise ClientRefused(400, "invalid_request", "use one client authentication method")
        refused = ClientRefused(401, "invalid_client", "client authentication failed", basic=True)
        if not methods:
            raise refused
        if methods[0] == "private_key_jwt":
            return self._check_assertion(form, token_endpoint)
        if methods[0] == "client_secret_basic":
            try:
                decoded = base64.b64decode(basic[6:].strip(), validate=True).decode()
                client_id, _, secret = decoded.partition(":")
                client_id, secret = unquote(client_id), unquote(secret)
            except ValueError:
                raise refused from None
        else:
            client_id, secret = form.get("client_id", ""), form["client_secret"]
        client = self.clients.get(client_id)
        if (
            client is None
            or not client.client_secret
            or not secrets.compare_digest(client.client_secret, secret)
        ):
            raise refused
        return client

    def _check_assertion(self, form: dict[str, str], token_endpoint: str) -> RegisteredClient:
        def refuse(why: str) -> ClientRefused:
            logger.info("identity provider: client assertion refused: %s", why)
            return ClientRefused(401, "invalid_client", f"client assertion refused: {why}")

        if form.get("client_assertion_type") != JWT_BEARER:
            raise refuse("client_assertion_type must be " + JWT_BEARER)
        assertion = form["client_assertion"]
        try:
            unverified = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
            issuer = str(unverified.get("iss", ""))
        except (ValueError, IndexError, AttributeError):
            raise refuse("not a JWT") from None
        client = self.clients.get(issuer)
        if client is None:
            raise refuse("unknown client (iss)")
        if form.get("client_id", client.client_id) != client.client_id:
            raise refuse("client_id does not match the assertion's iss")
        try:
            keys = jwk.KeySet.import_key_set(self._client_jwks(client))
            token = jwt.decode(assertion, keys, algorithms=list(ASSERTION_ALGORITHMS))
        except (JoseError, ValueError, requests.RequestException) as error:
            raise refuse(f"signature not verified ({error})") from None
        claims, now = token.claims, time.time()
        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            raise refuse("iss and sub must both be the client_id")
        audience = claims.get("aud")
        if token_endpoint not in (audience if isinstance(audience, list) else [audience]):
            raise refuse("aud must be the token endpoint " + token_endpoint)
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp < now - CLOCK_SKEW:
            raise refuse("expired or no exp")
        if exp > now + ASSERTION_MAX_LIFETIME + CLOCK_SKEW:
            raise refuse("exp more than 5 minutes ahead")
        if isinstance(claims.get("nbf"), (int, float)) and claims["nbf"] > now + CLOCK_SKEW:
            raise refuse("not yet valid (nbf)")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise refuse("no jti")
        with self._lock:
            self._used_jti = {k: e for k, e in self._used_jti.items() if e > now - CLOCK_SKEW}
            if (client.client_id, jti) in self._used_jti:
                raise refuse("jti already used")
            self._used_jti[(client.client_id, jti)] = float(exp)
        return client

    def _client_jwks(self, client: RegisteredClient) -> dict:
        if client.jwks is not None:
            return client.jwks
        if not client.jwks_uri:
            raise ValueError("the client has no keys registered")
        # Fetched at token time, so a client's rotated key is seen without re-registering.
        response = requests.get(client.jwks_uri, timeout=5)
        response.raise_for_status()
        return response.json()
