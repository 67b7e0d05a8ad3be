"""Partner systems registered to use the API: each bound to one team and role, with its scopes;
its secret is shown once and only a hash is kept."""

from auditlog.context import set_actor
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

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
) -> tuple[ApiClient, str]:
    """Register a partner system for one team, in one role, with its scopes; returns the client
    and its secret (shown once: only a hash is kept)."""
    from oauth2_provider.generators import generate_client_id, generate_client_secret
    from oauth2_provider.models import Application

    if role not in Role.values:
        raise ApiClientError(f"Unknown role: {role}.")
    unknown = sorted(set(scopes) - set(ApiClient.Scope.values))
    if unknown or not scopes:
        raise ApiClientError(f"Unknown or missing scopes: {', '.join(unknown) or 'none'}.")
    client_id = client_id or generate_client_id()
    secret = client_secret or generate_client_secret()
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
        )
    return client, secret


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
    application.save(update_fields=["client_secret", "updated"])
    LogEntry.objects.log_create(
        client,
        action=LogEntry.Action.UPDATE,
        changes={"client_secret": ["(earlier secret)", "(new secret)"]},
        actor=actor,
        additional_data={"reason": reason},
    )
    return secret
