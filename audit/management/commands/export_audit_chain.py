"""`manage.py export_audit_chain --chain N`: one chain's events as hashed (the fields of
audit/chain.py with their previous hash and hash), one JSON a line, so that a third party can
recompute the chain and hold its head against a signed checkpoint (docs/audit.md)."""

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.chain import content_of
from audit.models import AccessEvent


class Command(BaseCommand):
    help = (
        "Write one audit chain's events as hashed, one JSON object a line, for "
        "`python -m audit.verify_checkpoint --events`. They name patients and staff: hand them "
        "only to whoever may see the audit trail."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain", type=int, required=True, help="the chain's number")
        parser.add_argument("--to", type=int, help="the last sequence to write (a checkpoint's)")

    def handle(self, *args, chain: int, to: int | None, **options) -> None:
        if chain < 0 or (to is not None and to < 1):
            raise CommandError("--chain is 0 or more and --to 1 or more.")
        events = AccessEvent.objects.filter(chain=chain).order_by("sequence")
        if to is not None:
            events = events.filter(sequence__lte=to)
        for event in events.iterator(2000):
            line = {**content_of(event), "previous_hash": event.previous_hash, "hash": event.hash}
            self.stdout.write(json.dumps(line, sort_keys=True, default=str))
