"""OpenID Connect sign-in with Authlib: a client per registered identity provider (discovery from
its issuer, authorisation code with PKCE, private_key_jwt), and the checks of what comes back.

Authlib checks the ID token's signature, issuer, audience, expiry and nonce, and the state; we
check what is ours to check (the subject of userinfo, the assurance the role needs: in
access.services.sign_in), and turn every failure into a sentence for the person signing in.
"""

import hashlib
import logging
import time

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import DjangoOAuth2App, OAuth
from django.conf import settings
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from access.models import IdentityProvider
from access.service_key import ASSERTION_SECONDS, SignedAssertion, service_signing_key

logger = logging.getLogger(__name__)

# A provider's discovery document and keys are read again after this long (a rotated key is
# also fetched at once when a token names a key we do not hold).
METADATA_SECONDS = 3600
# How far a provider's clock may be from ours.
LEEWAY_SECONDS = 60
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"

_oauth = OAuth()
_clients: dict[str, DjangoOAuth2App] = {}


class SignInFailed(Exception):
    """The provider's answer cannot be trusted or used: `message` says why, for the person."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def public_key_set() -> dict:
    """The public half of the signing key, as the JWKS providers read (published at
    /oidc/jwks.json)."""
    key = service_signing_key()
    if key is None:
        return {"keys": []}
    public = key.as_dict(private=False)
    # No "alg": the same key signs RS512 for CIS2 and RS384 for a SMART clinical system.
    return {"keys": [{**public, "kid": key.thumbprint(), "use": "sig"}]}


def client_for(provider: IdentityProvider) -> DjangoOAuth2App:
    """The Authlib client of this provider as it is registered now (a change in the admin makes
    a new one); its discovery document is read again after METADATA_SECONDS."""
    method = provider.auth_method
    config = (provider.slug, provider.issuer, provider.client_id, provider.client_secret, method)
    name = f"{provider.slug}-{hashlib.sha256(repr(config).encode()).hexdigest()[:12]}"
    client = _clients.get(name)
    loaded = client.server_metadata.get("_loaded_at", 0) if client else 0
    if client is not None and time.time() - loaded < METADATA_SECONDS:
        return client
    auth_methods = []
    secret = provider.client_secret
    if method == IdentityProvider.AuthMethod.PRIVATE_KEY_JWT:
        key = service_signing_key()
        if key is None:
            raise SignInFailed(
                f"{provider.name} is set up to use this service's key, and none is configured "
                "(LCR_OIDC_PRIVATE_KEY). Tell the shared care record office.",
                status=503,
            )
        auth_methods, secret = [SignedAssertion(key, "RS512")], key
    client = _oauth.register(
        name,
        overwrite=True,
        client_id=provider.client_id,
        client_secret=secret,
        server_metadata_url=provider.issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": provider.scopes,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": method,
            "default_timeout": settings.LCR_OIDC_TIMEOUT_SECONDS,
        },
        client_auth_methods=auth_methods,
    )
    _clients[name] = client
    return client


def authorisation_redirect(request, provider: IdentityProvider, redirect_uri: str):
    """Send the browser to the provider, with a fresh state, nonce and PKCE verifier kept in
    this session for the way back."""
    client = client_for(provider)
    extra = {"acr_values": provider.acr_values} if provider.acr_values else {}
    try:
        return client.authorize_redirect(
            request, redirect_uri, nonce=generate_token(32), prompt="login", **extra
        )
    except (requests.RequestException, ValueError, KeyError) as error:
        logger.warning("sign-in: %s discovery failed: %s", provider.slug, error)
        raise SignInFailed(_unreachable(provider), status=502) from error


def verified_claims(request, provider: IdentityProvider) -> tuple[dict, dict]:
    """The claims of the provider's answer on the way back, once every check has passed: the ID
    token's merged over userinfo's (the ID token says how the user signed in; userinfo, their
    roles), and the token answer (for its ID token, sent again at sign-out)."""
    client = client_for(provider)
    try:
        token = client.authorize_access_token(request, leeway=LEEWAY_SECONDS)
    except OAuthError as error:
        if error.error == "access_denied":
            raise SignInFailed("You cancelled signing in.") from error
        if error.error == "mismatching_state":
            raise SignInFailed(
                "This sign-in had already been used or had expired. Sign in again."
            ) from error
        logger.warning("sign-in: %s refused: %s %s", provider.slug, error.error, error)
        raise SignInFailed(
            f"{provider.name} did not sign you in ({error.description or error.error})."
        ) from error
    except JoseError as error:
        logger.warning("sign-in: %s ID token refused: %r", provider.slug, error)
        raise SignInFailed(
            f"The sign-in {provider.name} sent back could not be trusted ({_jose_reason(error)}). "
            "You have not been signed in. Try again; if it happens again, tell the shared care "
            "record office.",
        ) from error
    except requests.RequestException as error:
        logger.warning("sign-in: %s unreachable: %s", provider.slug, error)
        raise SignInFailed(_unreachable(provider), status=502) from error
    except (ValueError, KeyError, TypeError) as error:
        logger.warning("sign-in: %s sent something unreadable: %r", provider.slug, error)
        raise SignInFailed(
            f"{provider.name} answered with something this service cannot read.", status=502
        ) from error
    id_claims = dict(token.get("userinfo") or {})
    if not id_claims:
        raise SignInFailed(f"{provider.name} did not send an ID token.", status=502)
    userinfo = {}
    if client.load_server_metadata().get("userinfo_endpoint"):
        try:
            userinfo = dict(client.userinfo(token=token))
        except (requests.RequestException, ValueError) as error:
            logger.warning("sign-in: %s userinfo failed: %s", provider.slug, error)
            raise SignInFailed(_unreachable(provider), status=502) from error
        if userinfo.get("sub") != id_claims.get("sub"):
            raise SignInFailed(
                f"{provider.name} described a different person from the one it signed in."
            )
    return {**userinfo, **id_claims}, token


def logout_claims(provider: IdentityProvider, logout_token: str) -> dict:
    """A back-channel logout token's claims, checked as OpenID Connect Back-Channel Logout 1.0
    section 2.6 says: signed by the provider, for us, recent, a logout event, no nonce, and
    naming a subject or a session. Raises SignInFailed with the reason otherwise."""
    client = client_for(provider)
    try:
        metadata = client.load_server_metadata()
        registry = JWSRegistry(algorithms=["RS256", "RS512", "PS256", "ES256"])
        try:
            keys = KeySet.import_key_set(client.fetch_jwk_set())
            token = jwt.decode(logout_token, keys, registry=registry)
        except JoseError:
            keys = KeySet.import_key_set(client.fetch_jwk_set(force=True))
            token = jwt.decode(logout_token, keys, registry=registry)
    except JoseError as error:
        raise SignInFailed(f"logout token not trusted: {_jose_reason(error)}") from error
    except (requests.RequestException, ValueError, KeyError, TypeError) as error:
        raise SignInFailed(f"logout token not checked: {error}", status=502) from error
    claims = token.claims
    typ = token.header.get("typ")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    now = time.time()
    problems = [
        (claims.get("iss") != metadata.get("issuer"), "wrong issuer"),
        (provider.client_id not in audiences, "not for this service"),
        (typ not in (None, "logout+jwt", "JWT"), "not a logout token"),
        (not isinstance(claims.get("iat"), int | float), "no time of issue"),
        (abs(now - float(claims.get("iat") or 0)) > ASSERTION_SECONDS, "too old"),
        (float(claims.get("exp") or now + 1) < now - LEEWAY_SECONDS, "expired"),
        (not claims.get("jti"), "no jti"),
        (not isinstance((claims.get("events") or {}).get(BACKCHANNEL_EVENT), dict), "no event"),
        ("nonce" in claims, "carries a nonce"),
        (not (claims.get("sub") or claims.get("sid")), "names no subject or session"),
    ]
    for failed, reason in problems:
        if failed:
            raise SignInFailed(f"logout token refused: {reason}")
    return claims


def end_session_redirect(provider: IdentityProvider, id_token: str, after: str) -> str | None:
    """Where to send the browser so that the provider's own session ends too (RP-initiated
    logout), or None when it has no end session endpoint or cannot be reached."""
    try:
        client = client_for(provider)
        if not client.load_server_metadata().get("end_session_endpoint"):
            return None
        return client.create_logout_url(
            post_logout_redirect_uri=after, id_token_hint=id_token, client_id=provider.client_id
        )["url"]
    except (SignInFailed, requests.RequestException, ValueError, KeyError):
        return None


def _unreachable(provider: IdentityProvider) -> str:
    return (
        f"{provider.name} did not answer in time or could not be reached. You have not been "
        "signed in. Try again in a minute."
    )


# What a wrong or missing claim means, in the words of the person signing in.
CLAIM_WORDS = {
    "nonce": "it was not made for this sign-in (nonce)",
    "aud": "it was made for another service (audience)",
    "azp": "it was made for another service (authorised party)",
    "iss": "it comes from another issuer",
    "at_hash": "it does not belong with its access token (at_hash)",
    "sub": "it names nobody (sub)",
    "exp": "it has expired",
    "iat": "it does not say when it was made (iat)",
}


def _jose_reason(error: JoseError) -> str:
    """A few words on why a token was refused, from joserfc's error."""
    claim = getattr(error, "claim", "")
    if claim:
        return CLAIM_WORDS.get(claim, f"its {claim} claim is wrong or missing")
    words = {
        "bad_signature": "its signature does not match the provider's keys",
        "expired_token": "it has expired",
    }
    return words.get(getattr(error, "error", ""), str(error) or error.__class__.__name__)
