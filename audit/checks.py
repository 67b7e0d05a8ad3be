"""System checks of the audit trail: `check --deploy` says when the application could empty it."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def application_owns_the_audit_trail(app_configs, **kwargs) -> list[Warning]:
    postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    if not postgres or settings.LCR_DATABASE_OWNER is not None:
        return []
    return [
        Warning(
            "The application connects to PostgreSQL as the owner of the audit tables, so it "
            "could switch their triggers off and empty them.",
            hint="Set MIGRATION_DATABASE_URL to the owner's login and DATABASE_URL to a role "
            "that owns nothing; migrate grants it what it needs (docs/audit.md).",
            id="audit.W001",
        )
    ]
