"""This service's own key, for signing in to others: the client assertions (private_key_jwt,
RFC 7523) it sends to identity providers and to clinical systems launching the record. One
setting (LCR_OIDC_PRIVATE_KEY), one reading of it, one way of signing with it."""

from functools import lru_cache

from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from django.conf import settings
from joserfc.jwk import RSAKey

# Client assertions live this long (CIS2, NHS England's API platform and SMART allow at most 5
# minutes).
ASSERTION_SECONDS = 300


def service_signing_key() -> RSAKey | None:
    """The key in settings.LCR_OIDC_PRIVATE_KEY, or None when none is set. A key that cannot be
    read raises joserfc's JoseError or ValueError, for the caller to say so in its own words."""
    pem = settings.LCR_OIDC_PRIVATE_KEY
    return _imported(pem) if pem else None


@lru_cache(maxsize=4)
def _imported(pem: str) -> RSAKey:
    return RSAKey.import_key(pem)


class SignedAssertion(PrivateKeyJWT):
    """private_key_jwt with this service's key: its thumbprint as `kid`, `alg` as the other side
    asks (RS512 for CIS2, RS384 for SMART), five minutes."""

    name = "private_key_jwt"

    def __init__(self, key: RSAKey, alg: str, token_endpoint: str | None = None) -> None:
        super().__init__(token_endpoint, headers={"kid": key.thumbprint()}, alg=alg)
        self.key = key

    def sign(self, auth, token_endpoint: str) -> str:
        return private_key_jwt_sign(
            self.key,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            header=dict(self.headers),
            alg=self.alg,
            expires_in=ASSERTION_SECONDS,
        )
