"""Partner systems registered to use the API: each bound to one team and role, with its scopes;
it proves who it is with a secret (shown once: only a hash is kept), a signed JWT by a key it
registered (private_key_jwt: access/client_assertions.py), or both."""

from auditlog.context import set_actor
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from access.client_assertions import check_jwks_uri, public_key_set
from access.exceptions import ApiClientError
from access.models import ApiClient, Role, Team


@transaction.atomic
def register_api_client(
    *,
    name: str,
    team: Team,
    role: str,
    scopes: list[str],
    actor: AbstractBaseUser,
    client_id: str | None = None,
    client_secret: str | None = None,
    rate: str = "",
    jwks_uri: str = "",
    public_jwks: dict | str | bytes | None = None,
    with_secret: bool | None = None,
) -> tuple[ApiClient, str]:
    """Register a partner system for one team, in one role, with its scopes; returns the client
    and its secret (shown once: only a hash is kept), or "" when it has none.

    A client with public keys (`jwks_uri`, or `public_jwks`: a JWKS or a PEM public key)
    authenticates with signed JWTs and gets no secret unless `with_secret` (or a
    `client_secret`) asks for one too: a secret it does not use is one more thing to leak."""
    from oauth2_provider.generators import generate_client_id, generate_client_secret
    from oauth2_provider.models import Application

    if role not in Role.values:
        raise ApiClientError(f"Unknown role: {role}.")
    unknown = sorted(set(scopes) - set(ApiClient.Scope.values))
    if unknown or not scopes:
        raise ApiClientError(f"Unknown or missing scopes: {', '.join(unknown) or 'none'}.")
    keys = _public_keys(jwks_uri=jwks_uri, public_jwks=public_jwks)
    if with_secret is None:
        with_secret = not any(keys.values()) or bool(client_secret)
    if not with_secret and client_secret:
        raise ApiClientError("A client_secret was given for a client registered without one.")
    if not with_secret and not any(keys.values()):
        raise ApiClientError("A client needs a secret or public keys to authenticate with.")
    client_id = client_id or generate_client_id()
    secret = (client_secret or generate_client_secret()) if with_secret else ""
    with set_actor(actor):
        user = get_user_model().objects.create(
            username=f"api.{client_id}"[:150], first_name=name[:150], is_active=True
        )
        user.set_unusable_password()  # it acts only through the API, never signs in
        user.save(update_fields=["password"])
        application = Application.objects.create(
            name=name,
            client_id=client_id,
            client_secret=secret,
            # No secret is stored as "", not as the hash of "" (which "" would match); the
            # validator refuses an empty secret either way.
            hash_client_secret=with_secret,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        )
        client = ApiClient.objects.create(
            application=application,
            name=name,
            team=team,
            role=role,
            scopes=sorted(set(scopes)),
            service_user=user,
            rate=rate,
            **keys,
        )
    return client, secret


def _public_keys(*, jwks_uri: str, public_jwks: dict | str | bytes | None) -> dict:
    """The ApiClient fields for a client's public keys: a JWKS URL or uploaded keys, not both
    (two places would leave unclear which one a rotation must change)."""
    if jwks_uri and public_jwks:
        raise ApiClientError("Give a JWKS URL or uploaded public keys, not both.")
    return {
        "jwks_uri": check_jwks_uri(jwks_uri) if jwks_uri else "",
        "public_jwks": public_key_set(public_jwks) if public_jwks else None,
    }


@transaction.atomic
def rotate_api_client_secret(*, client: ApiClient, reason: str, actor: AbstractBaseUser) -> str:
    """Give a partner system a new secret (the old one stops working at once) and return it,
    shown once: only a hash is kept. The change history records who rotated it and why, never
    the secret. This is the only way a secret changes: oauth2_provider's own admin pages are not
    on the product's admin site, so nobody can set a known secret and read records as a partner."""
    from auditlog.models import LogEntry
    from oauth2_provider.generators import generate_client_secret

    reason = reason.strip()
    if not reason:
        raise ApiClientError("Say why the secret is being rotated.")
    secret = generate_client_secret()
    application = client.application
    application.client_secret = secret  # hashed on save (ClientSecretField)
    application.hash_client_secret = True  # a keys-only client may be given its first secret
    application.save(update_fields=["client_secret", "hash_client_secret", "updated"])
    LogEntry.objects.log_create(
        client,
        action=LogEntry.Action.UPDATE,
        changes={"client_secret": ["(earlier secret)", "(new secret)"]},
        actor=actor,
        additional_data={"reason": reason},
    )
    return secret
