"""`manage.py sign_audit_checkpoint`: sign every chain head that has moved now, as the hourly
task does, and say where each checkpoint went."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from audit.checkpoints import CheckpointNotWrittenOut, checkpoint_file, sign_checkpoints
from audit.signing_keys import SigningKeyError


class Command(BaseCommand):
    help = (
        "Sign every audit chain head that has moved since its latest checkpoint: store it, "
        "append it to the checkpoint file and hand it to the sink."
    )

    def handle(self, *args, **options) -> None:
        try:
            signed = sign_checkpoints()
        except SigningKeyError as error:
            raise CommandError(f"Nothing was signed: {error}", returncode=2) from None
        except DatabaseError as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "no reason"
            raise CommandError(f"Nothing more was signed: {reason}", returncode=2) from None
        except CheckpointNotWrittenOut as error:
            raise CommandError(str(error)) from None
        if not signed:
            self.stdout.write("No chain head has moved since its latest checkpoint.")
            return
        for checkpoint in signed:
            self.stdout.write(
                f"Signed chain {checkpoint.chain} at sequence {checkpoint.sequence} "
                f"(hash {checkpoint.hash})."
            )
        self.stdout.write(f"{len(signed)} checkpoints written to {checkpoint_file()}.")
