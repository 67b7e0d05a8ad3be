"""System checks of the audit trail: every check says when a checkpoint key or the sink cannot be
used (a host with the public key alone, such as a web server, is not faulted for having no
private key); `check --deploy` says when the application could empty the trail, or when
checkpoints are signed with a key made for this checkout."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string

from audit.privileges import application_role
from audit.signing_keys import (
    KeyMismatch,
    SigningKeyError,
    generated_key_path,
    key_for_signing,
    public_key_configured,
    public_keys,
    signing_key_configured,
    uses_generated_key,
)


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
def checkpoint_keys_can_be_read(app_configs, **kwargs) -> list[Error | Warning]:
    found: list[Error | Warning] = []
    try:
        public_keys()  # the signing key too, where no public key is configured
    except SigningKeyError as error:
        found.append(
            Error(
                f"The audit checkpoints cannot be signed or checked: {error}",
                hint="Set LCR_AUDIT_PUBLIC_KEY_FILE to the current Ed25519 public key in PEM "
                "(LCR_AUDIT_SIGNING_KEY_FILE to the private key on the signing worker only), "
                "and LCR_AUDIT_VERIFY_KEYS(_FILE) to former public keys (docs/audit.md).",
                id="audit.E001",
            )
        )
    if public_key_configured() and signing_key_configured() and not found:
        try:
            key_for_signing()
        except KeyMismatch as error:
            found.append(
                Error(
                    f"The audit checkpoints signed here would not verify: {error}",
                    hint="Give the signing worker the private half of LCR_AUDIT_PUBLIC_KEY_FILE "
                    "(docs/audit.md).",
                    id="audit.E001",
                )
            )
        except SigningKeyError as error:
            # Verifying needs only the public key: this host cannot sign, which only the
            # signing worker does.
            found.append(
                Warning(
                    f"This host cannot sign audit checkpoints: {error}",
                    hint="On the signing worker, make LCR_AUDIT_SIGNING_KEY_FILE readable; on "
                    "every other host, unset it and keep LCR_AUDIT_PUBLIC_KEY_FILE alone.",
                    id="audit.W003",
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
