"""System checks of the audit trail: `check --deploy` says when the application could empty it."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

from audit.privileges import application_role


@register(Tags.security, deploy=True)
def application_owns_the_audit_trail(app_configs, **kwargs) -> list[Warning]:
    postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    # No separate role (MIGRATION_DATABASE_URL unset, or naming DATABASE_URL's own user).
    if not postgres or application_role() is not None:
        return []
    return [
        Warning(
            "The application connects to PostgreSQL as the owner of the audit tables (no "
            "MIGRATION_DATABASE_URL, or one with DATABASE_URL's user), so it "
            "could switch their triggers off and empty them.",
            hint="Set MIGRATION_DATABASE_URL to the owner's login and DATABASE_URL to a role "
            "that owns nothing; migrate grants it what it needs (docs/audit.md).",
            id="audit.W001",
        )
    ]
