"""`manage.py audit_public_key`: the public half of the checkpoints' signing key, in PEM, to
publish so that anyone can check a checkpoint (docs/audit.md); its key id on standard error."""

from django.core.management.base import BaseCommand, CommandError

from audit.signing_keys import SigningKeyError, public_key_pem, signing_key
from audit.verify_checkpoint import key_id


class Command(BaseCommand):
    help = "Print the public key that verifies the audit checkpoints (PEM), to publish."

    def handle(self, *args, **options) -> None:
        try:
            key = signing_key(create=True)
        except SigningKeyError as error:
            raise CommandError(str(error), returncode=2) from None
        self.stdout.write(public_key_pem(key), ending="")
        self.stderr.write(f"Key id: {key_id(key.public_key())}")
