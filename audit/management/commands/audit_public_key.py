"""`manage.py audit_public_key`: the public half of the checkpoints' signing key, in PEM, to
publish so that anyone can check a checkpoint (docs/audit.md); its key id on standard error.
On the signing worker it is checked against LCR_AUDIT_PUBLIC_KEY(_FILE) when that is set; on a
host with the public key alone, that key is printed."""

from django.core.management.base import BaseCommand, CommandError

from audit.signing_keys import (
    SigningKeyError,
    configured_public_key,
    key_for_signing,
    public_key_pem,
    signing_key_configured,
)
from audit.verify_checkpoint import key_id


class Command(BaseCommand):
    help = "Print the public key that verifies the audit checkpoints (PEM), to publish."

    def handle(self, *args, **options) -> None:
        try:
            public = configured_public_key()
            if public is None or signing_key_configured():
                public = key_for_signing().public_key()
        except SigningKeyError as error:
            raise CommandError(str(error), returncode=2) from None
        self.stdout.write(public_key_pem(public), ending="")
        self.stderr.write(f"Key id: {key_id(public)}")
