"""System checks of sign-in: `check --deploy` says when passwords held here let anyone in, or
when a provider is set up to use a key this service does not have."""

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.db import DatabaseError


@register(Tags.security, deploy=True)
def staff_sign_in_through_identity_providers(app_configs, **kwargs) -> list[Warning]:
    from access.models import IdentityProvider

    found = []
    if settings.LCR_PASSWORD_SIGN_IN == "everyone":  # noqa: S105 (a setting's value)
        found.append(
            Warning(
                'LCR_PASSWORD_SIGN_IN is "everyone": any local account signs in with a password '
                "held here, not through CIS2 or a council's provider.",
                hint='Set it to "off", or "break-glass" for one administrator account.',
                id="access.W001",
            )
        )
    keyless = IdentityProvider.objects.filter(
        active=True, auth_method=IdentityProvider.AuthMethod.PRIVATE_KEY_JWT
    )
    try:
        without_key = not settings.LCR_OIDC_PRIVATE_KEY and keyless.exists()
    except DatabaseError:  # not migrated yet: nothing registered to check
        without_key = False
    if without_key:
        found.append(
            Warning(
                "An identity provider signs in with private_key_jwt and no key is configured, "
                "so nobody can sign in through it.",
                hint="Set LCR_OIDC_PRIVATE_KEY_FILE (docs/portal.md).",
                id="access.W002",
            )
        )
    return found
