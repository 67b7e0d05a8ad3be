"""`manage.py verify_audit`: check every access-event chain against its head and its signed
checkpoints, and name the first broken link of each broken chain.

Exit status 0 when the trail is intact, 1 when anything is broken, 2 when it could not be read;
every outcome is a sentence, never a traceback.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from audit.integrity import verify_trail

BROKEN, UNREADABLE = 1, 2


class Command(BaseCommand):
    help = (
        "Check the hash chains of the access events against their heads and signed checkpoints; "
        "exit 1 naming the first broken link of each broken chain, 2 if the trail cannot be read."
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
        if verdict.problems:
            raise CommandError("\n".join(verdict.problems), returncode=BROKEN)
        self.stdout.write(
            f"All {verdict.events} access events in {verdict.chains} chains are intact."
        )
        self.stdout.write(
            f"They agree with their chain heads and {verdict.checkpoints} signed checkpoints; "
            f"{verdict.since_checkpoints} written since their chain's latest checkpoint are "
            "vouched for by the chain alone."
        )
