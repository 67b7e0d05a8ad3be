"""Partner systems proving who they are with a signed JWT (`private_key_jwt`: RFC 7523, OpenID
Connect Core 9) at the token endpoint, as NHS England's API platform asks of its partners.

Here: reading a client's public keys when it is registered (`public_key_set`, `check_jwks_uri`),
fetching its key set from its JWKS URL (cached briefly), checking an assertion
(`verify_client_assertion`), and `ClientAssertionValidator`, the django-oauth-toolkit validator
(OAUTH2_VALIDATOR_CLASS) that answers every refusal as RFC 6749 `invalid_client`.
"""

import hashlib
import json
import math
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from joserfc import jwk, jws, jwt
from joserfc.errors import BadSignatureError, JoseError
from oauth2_provider.models import AccessToken
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.common import Request
from oauthlib.oauth2.rfc6749 import errors

from access.exceptions import ApiClientError
from access.models import ApiClient, ClientAssertionUse

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Signatures by a private key only: never HMAC (anyone holding the public key could sign) or
# "none". NHS England asks for RS512; the others are what RFC 7518 partners commonly use.
ALGORITHMS = ["RS512", "RS384", "RS256", "PS512", "PS384", "PS256", "ES512", "ES384", "ES256"]
MAX_LIFETIME_SECONDS = 300  # NHS England: exp no more than 5 minutes ahead
CLOCK_SKEW_SECONDS = 10  # the partner's clock and ours may differ by this much
MAX_JTI_LENGTH = 200  # ClientAssertionUse.jti
# A JWKS URL is asked at token time, so it must answer quickly or not at all: a hanging partner
# server must not hold a web process for long.
JWKS_TIMEOUT_SECONDS = 3.0
JWKS_MAX_BYTES = 64 * 1024
JWKS_CACHE_SECONDS = 300
# An unknown kid makes us fetch again (the partner may have rotated its key), but at most this
# often per client, so that assertions naming made-up kids cannot make us hammer its server.
JWKS_REFETCH_AFTER_SECONDS = 10.0
PUBLIC_KEY_TYPES = {"RSA", "EC", "OKP"}


class ClientAssertionRefused(Exception):
    """A client assertion that does not prove who the client is; the message says why."""


class ClientKeyError(ApiClientError):
    """A public key or JWKS URL that cannot be registered for a partner system."""


def public_key_set(value: str | bytes | dict) -> dict:
    """A JWKS (dict) of public keys only, from a JWKS (JSON text or dict) or a PEM public key.

    Refuses a private key (the private key stays with the partner system: holding it here would
    let anyone who reads the database sign as the partner), symmetric keys and keys without a
    kid in a JWKS (the assertion's header names its key). A PEM key gets its RFC 7638 thumbprint
    as kid."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        text = value.strip()
        if "PRIVATE KEY" in text:
            raise ClientKeyError(
                "This is a private key. Upload only the public key: the private key stays "
                "with the partner system."
            )
        if text.startswith("-----BEGIN"):
            return {"keys": [_public_pem(text)]}
        try:
            value = json.loads(text)
        except ValueError as error:
            raise ClientKeyError(
                "Not a public key: upload a JWKS (JSON) or a PEM public key."
            ) from error
    if not isinstance(value, dict):
        raise ClientKeyError('A JWKS is a JSON object with "keys": a list of public keys.')
    if "keys" not in value and "kty" in value:
        value = {"keys": [value]}  # a single JWK: accept it as a set of one
    keys = value.get("keys")
    if not isinstance(keys, list) or not keys:
        raise ClientKeyError('A JWKS is a JSON object with "keys": a list of public keys.')
    return {"keys": [_public_jwk(key) for key in keys]}


def _public_pem(text: str) -> dict:
    for key_type in ("RSA", "EC", "OKP"):  # a PEM does not say, and guessing warns
        try:
            key = jwk.import_key(text.encode(), key_type)
            break
        except (JoseError, ValueError, TypeError):
            continue
    else:
        raise ClientKeyError("Not a PEM public key this service can read (RSA, EC or OKP).")
    if key.is_private:
        raise ClientKeyError(
            "This is a private key. Upload only the public key: the private key stays "
            "with the partner system."
        )
    return {**key.as_dict(private=False), "kid": key.thumbprint()}


def _public_jwk(data: object) -> dict:
    if not isinstance(data, dict):
        raise ClientKeyError("Each key in a JWKS is a JSON object (a JWK).")
    if data.get("kty") not in PUBLIC_KEY_TYPES:
        raise ClientKeyError(
            f"Key type {data.get('kty')!r} cannot sign an assertion: use RSA, EC or OKP keys."
        )
    if "d" in data or "p" in data:  # the private parts of RSA, EC and OKP keys
        raise ClientKeyError(
            f"Key {data.get('kid', '')!r} is a private key. Upload only the public key: the "
            "private key stays with the partner system."
        )
    if not isinstance(data.get("kid"), str) or not data["kid"]:
        raise ClientKeyError("Each key needs a kid: the assertion's header names the key.")
    try:
        key = jwk.import_key(data)
    except (JoseError, ValueError, TypeError) as error:
        raise ClientKeyError(f"Key {data['kid']!r} is not a key this service can read.") from error
    return key.as_dict(private=False)


def check_jwks_uri(url: str) -> str:
    """A JWKS URL we will fetch: http or https with a host, nothing else (not file: or ftp:)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientKeyError("A JWKS URL is an http or https address, e.g. https://x/jwks.json.")
    return url


def client_key_set(client: ApiClient, *, unknown_kid: str | None = None) -> jwk.KeySet:
    """The client's public keys: uploaded, or from its JWKS URL (cached for a few minutes, and
    fetched again when an assertion names a kid the cached set does not hold)."""
    if client.public_jwks:
        return _import(client.public_jwks, where="the client's uploaded keys")
    if not client.jwks_uri:
        raise ClientAssertionRefused(
            "This client has no public keys registered: it authenticates with its secret."
        )
    # Hashed: a URL may be longer than, or hold characters, a cache key may not.
    cache_key = f"client-jwks:{client.pk}:{hashlib.sha256(client.jwks_uri.encode()).hexdigest()}"
    cached = cache.get(cache_key)
    stale = cached is None or (
        unknown_kid is not None and time.time() - cached["fetched_at"] >= JWKS_REFETCH_AFTER_SECONDS
    )
    if stale:
        cached = {"jwks": _fetch_jwks(client.jwks_uri), "fetched_at": time.time()}
        cache.set(cache_key, cached, JWKS_CACHE_SECONDS)
    return _import(cached["jwks"], where=f"the key set at {client.jwks_uri}")


def _import(data: dict, *, where: str) -> jwk.KeySet:
    try:
        return jwk.KeySet.import_key_set(public_key_set(data))
    except (ClientKeyError, JoseError, ValueError, TypeError) as error:
        raise ClientAssertionRefused(f"Could not use {where}: {error}") from error


def _fetch_jwks(url: str) -> dict:
    try:
        url = check_jwks_uri(url)
    except ClientKeyError as error:
        raise ClientAssertionRefused(str(error)) from error
    deadline = time.monotonic() + JWKS_TIMEOUT_SECONDS
    body = b""
    try:
        # No redirects: the registered URL is the one trusted, not wherever it points.
        with requests.get(
            url,
            timeout=JWKS_TIMEOUT_SECONDS,
            stream=True,
            allow_redirects=False,
            headers={"Accept": "application/json"},
        ) as response:
            if response.status_code != 200:
                raise ClientAssertionRefused(
                    f"The client's key set at {url} answered HTTP {response.status_code}."
                )
            # The timeout is per read; a server sending a byte at a time must not get past it.
            for chunk in response.iter_content(8192):
                body += chunk
                if len(body) > JWKS_MAX_BYTES or time.monotonic() > deadline:
                    raise ClientAssertionRefused(
                        f"The client's key set at {url} is too large or too slow to read."
                    )
    except requests.Timeout as error:
        raise ClientAssertionRefused(
            f"The client's key set at {url} did not answer within {JWKS_TIMEOUT_SECONDS:g} s."
        ) from error
    except requests.RequestException as error:
        raise ClientAssertionRefused(
            f"The client's key set at {url} could not be fetched ({type(error).__name__})."
        ) from error
    try:
        data = json.loads(body)
    except ValueError as error:
        raise ClientAssertionRefused(f"The client's key set at {url} is not JSON.") from error
    if not isinstance(data, dict):
        raise ClientAssertionRefused(f"The client's key set at {url} is not a JWKS.")
    return data


def verify_client_assertion(
    *, assertion: str, assertion_type: str, token_endpoint: str, client_id: str | None = None
) -> ApiClient:
    """The active client that signed `assertion`, once its jti is recorded as used; raises
    ClientAssertionRefused saying why otherwise. `client_id`, when the request names one, must
    be the assertion's issuer."""
    if assertion_type != JWT_BEARER:
        raise ClientAssertionRefused(f"client_assertion_type must be {JWT_BEARER}.")
    header, claims = _unverified(assertion)
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise ClientAssertionRefused("The assertion's iss must be the client_id.")
    if claims.get("sub") != issuer:
        raise ClientAssertionRefused("The assertion's sub must be the client_id, as its iss is.")
    if client_id and client_id != issuer:
        raise ClientAssertionRefused("client_id in the request is not the assertion's iss.")
    client = _active_client(issuer)
    key = _signing_key(client, header["kid"])
    try:
        jwt.decode(assertion, key, algorithms=[header["alg"]])
    except BadSignatureError as error:
        raise ClientAssertionRefused(
            f"The assertion's signature does not verify with the client's key {header['kid']!r}."
        ) from error
    except JoseError as error:
        raise ClientAssertionRefused(
            f"The assertion's alg {header['alg']} does not fit the client's key "
            f"{header['kid']!r} ({error.error})."
        ) from error
    expires_at = _check_claims(claims, token_endpoint=token_endpoint)
    _record_use(client, claims["jti"], expires_at)
    return client


def _unverified(assertion: str) -> tuple[dict, dict]:
    """Header and claims before the signature is checked: the claims say whose key to check it
    with. Nothing read here is trusted until the signature verifies."""
    try:
        compact = jws.extract_compact(assertion.encode("ascii"))
        header = compact.headers()
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, TypeError, UnicodeError) as error:
        raise ClientAssertionRefused(
            "client_assertion is not a signed JWT (compact JWS)."
        ) from error
    if not isinstance(claims, dict):
        raise ClientAssertionRefused("The assertion's payload is not a JSON object of claims.")
    if header.get("alg") not in ALGORITHMS:
        raise ClientAssertionRefused(
            f"The assertion's alg must be one of {', '.join(ALGORITHMS)} (RS512 recommended)."
        )
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise ClientAssertionRefused("The assertion's header must name its key (kid).")
    return header, claims


def _active_client(client_id: str) -> ApiClient:
    client = (
        ApiClient.objects.select_related("application", "service_user")
        .filter(application__client_id=client_id)
        .first()
    )
    if client is None:
        raise ClientAssertionRefused("No client is registered with this client_id.")
    if not client.active or not client.service_user.is_active:
        raise ClientAssertionRefused("This client is switched off.")
    return client


def _signing_key(client: ApiClient, kid: str) -> jwk.Key:
    try:
        return client_key_set(client).get_by_kid(kid)
    except (JoseError, ValueError):
        pass
    try:  # perhaps rotated since we cached the set: fetch again, once
        return client_key_set(client, unknown_kid=kid).get_by_kid(kid)
    except (JoseError, ValueError) as error:
        raise ClientAssertionRefused(f"Key {kid!r} is not in the client's key set.") from error


def _check_claims(claims: dict, *, token_endpoint: str) -> datetime:
    """aud, exp, nbf, iat and jti as RFC 7523 section 3 and NHS England ask; returns exp."""
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if token_endpoint not in audiences:
        raise ClientAssertionRefused(f"The assertion's aud must be {token_endpoint}.")
    now = time.time()
    expiry = claims.get("exp")
    if not _is_time(expiry):
        raise ClientAssertionRefused("The assertion must have an exp (seconds since 1970).")
    if expiry + CLOCK_SKEW_SECONDS <= now:
        raise ClientAssertionRefused("The assertion has expired.")
    if expiry > now + MAX_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS:
        raise ClientAssertionRefused(
            f"The assertion's exp is more than {MAX_LIFETIME_SECONDS // 60} minutes ahead."
        )
    for name, message in (("nbf", "is not valid yet"), ("iat", "was issued in the future")):
        value = claims.get(name)
        if value is not None and (not _is_time(value) or value > now + CLOCK_SKEW_SECONDS):
            raise ClientAssertionRefused(f"The assertion {message} ({name}).")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise ClientAssertionRefused(
            f"The assertion must have a unique jti (a string of at most {MAX_JTI_LENGTH})."
        )
    return datetime.fromtimestamp(expiry, tz=UTC)


def _is_time(value: object) -> bool:
    # Python's JSON reads NaN and Infinity, which no comparison refuses.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _record_use(client: ApiClient, jti: str, expires_at: datetime) -> None:
    """Insert, and let the unique constraint refuse the second: two requests racing with the
    same jti cannot both pass, as a look-then-insert would let them."""
    try:
        with transaction.atomic():
            ClientAssertionUse.objects.create(client=client, jti=jti, expires_at=expires_at)
    except IntegrityError as error:
        raise ClientAssertionRefused(
            "This assertion's jti has been used already: sign a new assertion for each request."
        ) from error


def purge_used_client_assertions() -> int:
    """Forget used jtis whose assertions have expired: an expired assertion is refused anyway."""
    deleted, _ = ClientAssertionUse.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


class _TokenRequest(HttpRequest):
    """The token request's WSGI environ as Django reads it, for its absolute URL (oauthlib is
    given only the path)."""

    def __init__(self, meta: dict) -> None:
        super().__init__()
        self.META = meta

    def _get_scheme(self) -> str:
        return self.META.get("wsgi.url_scheme", "http")


def token_endpoint_url(headers: dict) -> str:
    """This token endpoint's URL as the client reached it: an assertion's aud must be it."""
    return _TokenRequest(dict(headers)).build_absolute_uri(reverse("api-token"))


class ClientAssertionValidator(OAuth2Validator):
    """django-oauth-toolkit's validator, with client authentication by signed JWT besides the
    client secret, and no token for a client that is switched off or has no secret to check."""

    def authenticate_client(self, request: Request, *args, **kwargs) -> bool:
        assertion = getattr(request, "client_assertion", None)
        assertion_type = getattr(request, "client_assertion_type", None)
        if assertion is None and assertion_type is None:
            return super().authenticate_client(request, *args, **kwargs) and self._usable(request)
        if self._extract_basic_auth(request) or getattr(request, "client_secret", None):
            # RFC 6749 section 2.3: one authentication method per request.
            raise self._refusal(
                request, "Authenticate with a client assertion or a secret, not both."
            )
        try:
            client = verify_client_assertion(
                assertion=assertion or "",
                assertion_type=assertion_type or "",
                token_endpoint=token_endpoint_url(request.headers),
                client_id=request.client_id,
            )
        except ClientAssertionRefused as refusal:
            raise self._refusal(request, str(refusal)) from refusal
        request.client = client.application
        request.client_id = client.application.client_id
        return True

    def _check_secret(self, provided_secret: str, stored_secret: str) -> bool:
        # A client registered with keys only has an empty secret: "" must never match it.
        if not provided_secret or not stored_secret:
            return False
        return super()._check_secret(provided_secret, stored_secret)

    def _usable(self, request: Request) -> bool:
        client = ApiClient.objects.filter(application=request.client).first()
        if client is None or not client.active or not client.service_user.is_active:
            raise self._refusal(request, "This client is not registered or is switched off.")
        return True

    def _load_access_token(self, token: str) -> AccessToken | None:
        """The bearer token with its client, the client's team, service user and role policy, in
        one query: django-oauth-toolkit's own reads the token and its application, and the API
        then read the client in a second (access.api_auth.ApiClientAuthentication)."""
        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        client = "application__api_client__"
        return (
            AccessToken.objects.select_related(
                "user", f"{client}team", f"{client}service_user", f"{client}policy"
            )
            .filter(token_checksum=checksum)
            .first()
        )

    @staticmethod
    def _refusal(request: Request, description: str) -> errors.InvalidClientError:
        return errors.InvalidClientError(description=description, request=request)
