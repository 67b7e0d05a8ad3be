"""System checks of the audit trail: every check says when a checkpoint key or the sink cannot be
used; `check --deploy` says when the application could empty the trail, or when checkpoints are
signed with a key made for this checkout."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string

from audit.privileges import application_role
from audit.signing_keys import SigningKeyError, generated_key_path, public_keys, uses_generated_key


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


@register(Tags.security)
def checkpoint_keys_can_be_read(app_configs, **kwargs) -> list[Error]:
    found = []
    try:
        public_keys()  # reads the signing key too
    except SigningKeyError as error:
        found.append(
            Error(
                f"The audit checkpoints cannot be signed or checked: {error}",
                hint="Set LCR_AUDIT_SIGNING_KEY_FILE to a readable Ed25519 private key in PEM, "
                "and LCR_AUDIT_VERIFY_KEYS(_FILE) to public keys in PEM (docs/audit.md).",
                id="audit.E001",
            )
        )
    if settings.LCR_AUDIT_CHECKPOINT_SINK:
        try:
            sink = import_string(settings.LCR_AUDIT_CHECKPOINT_SINK)
        except ImportError as error:
            sink = error
        if not callable(sink):
            found.append(
                Error(
                    f"LCR_AUDIT_CHECKPOINT_SINK ({settings.LCR_AUDIT_CHECKPOINT_SINK}) is not "
                    "a callable that can be imported, so checkpoints would not reach it.",
                    hint="A dotted path to a function taking the checkpoint as a dict.",
                    id="audit.E002",
                )
            )
    return found


@register(Tags.security, deploy=True)
def checkpoints_signed_with_a_deployment_key(app_configs, **kwargs) -> list[Warning]:
    if not uses_generated_key():
        return []
    return [
        Warning(
            f"The audit checkpoints are signed with a key made for this checkout "
            f"({generated_key_path()}): each server would make its own.",
            hint="Set LCR_AUDIT_SIGNING_KEY_FILE (or LCR_AUDIT_SIGNING_KEY) to the deployment's "
            "Ed25519 key, kept out of the database and its backups (docs/audit.md).",
            id="audit.W002",
        )
    ]
