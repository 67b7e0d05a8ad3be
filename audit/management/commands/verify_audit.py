"""`manage.py verify_audit`: check every access-event chain and name the first broken link."""

from django.core.management.base import BaseCommand, CommandError

from audit.chain import first_break
from audit.models import AccessEvent, ChainHead


class Command(BaseCommand):
    help = "Check the hash chains of the access events; exit 1 naming the first broken link."

    def handle(self, *args, **options) -> None:
        chains = AccessEvent.objects.order_by().values_list("chain", flat=True).distinct()
        checked = 0
        for chain in sorted(chains):
            events = AccessEvent.objects.filter(chain=chain).order_by("sequence").iterator(2000)
            head = ChainHead.objects.filter(chain=chain).values_list("sequence", "hash").first()
            broken = first_break(events, head)
            if broken is not None:
                raise CommandError(
                    f"Chain {broken.chain} is broken at sequence {broken.sequence} "
                    f"(access event {broken.event_id}): {broken.why}."
                )
            checked += AccessEvent.objects.filter(chain=chain).count()
        self.stdout.write(f"All {checked} access events in {len(chains)} chains are intact.")
