"""`manage.py sign_audit_checkpoint`: write out again the checkpoints the file lacks and sign
every chain head that has moved now, as the hourly task does, and say where each went."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from audit.checkpoints import CheckpointNotWrittenOut, checkpoint_file, sign_run
from audit.signing_keys import SigningKeyError


class Command(BaseCommand):
    help = (
        "Write out again every checkpoint the checkpoint file lacks, then sign every audit chain "
        "head that has moved since its latest checkpoint: store it, hand it to the sink and "
        "append it to the checkpoint file."
    )

    def handle(self, *args, **options) -> None:
        try:
            run = sign_run()
        except SigningKeyError as error:
            raise CommandError(f"Nothing was signed: {error}", returncode=2) from None
        except DatabaseError as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "no reason"
            raise CommandError(f"Nothing more was signed: {reason}", returncode=2) from None
        except CheckpointNotWrittenOut as error:
            raise CommandError(str(error)) from None
        for checkpoint in run.rewritten:
            self.stdout.write(
                f"Wrote out again chain {checkpoint.chain} at sequence {checkpoint.sequence}, "
                f"which {checkpoint_file()} lacked."
            )
        signed = run.signed
        if not signed:
            self.stdout.write("No chain head has moved since its latest checkpoint.")
            return
        for checkpoint in signed:
            self.stdout.write(
                f"Signed chain {checkpoint.chain} at sequence {checkpoint.sequence} "
                f"(hash {checkpoint.hash})."
            )
        self.stdout.write(f"{len(signed)} checkpoints written to {checkpoint_file()}.")
