"""`manage.py verify_audit`: check every access-event chain against its head and its signed
checkpoints, in the table and in the checkpoint file, and name the first broken link of each
broken chain.

Exit status 0 when the trail is intact, 1 when anything is broken, 2 when it could not be read
(the database, a key or the checkpoint file); every outcome is a sentence, never a traceback.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from audit.integrity import CheckpointFileUnreadable, verify_trail
from audit.signing_keys import SigningKeyError

BROKEN, UNREADABLE = 1, 2


class Command(BaseCommand):
    help = (
        "Check the hash chains of the access events against their heads and signed checkpoints "
        "(the table's and the checkpoint file's); exit 1 naming the first broken link of each "
        "broken chain, 2 if the trail, a key or the checkpoint file cannot be read."
    )

    def handle(self, *args, **options) -> None:
        try:
            verdict = verify_trail()
        except DatabaseError as error:
            reason = (
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            )
            raise CommandError(
                f"The audit trail could not be read, so it was not checked: {reason}",
                returncode=UNREADABLE,
            ) from None
        except (SigningKeyError, CheckpointFileUnreadable) as error:
            raise CommandError(
                f"The audit trail was not checked: {error}", returncode=UNREADABLE
            ) from None
        if verdict.problems:
            raise CommandError("\n".join(verdict.problems), returncode=BROKEN)
        self.stdout.write(
            f"All {verdict.events} access events in {verdict.chains} chains are intact."
        )
        self.stdout.write(
            f"They agree with their chain heads, {verdict.checkpoints} signed checkpoints and "
            f"{verdict.file_checkpoints} in the checkpoint file; {verdict.since_checkpoints} "
            "written since their chain's latest checkpoint are vouched for by the chain alone."
        )
