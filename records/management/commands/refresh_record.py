"""`manage.py refresh_record NHS_NUMBER`: fetch a patient's record from its sources and show states.

For operators checking that sources answer; it shows states and counts, never clinical content.
"""

import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from records.categories import ALL_CATEGORIES, parse_categories
from records.fetching import SourceState, request_refresh, state_of
from records.models import Patient, Snapshot
from records.nhs_numbers import normalise_nhs_number
from records.selectors import current_patient, snapshots_for


class Command(BaseCommand):
    help = "Ask every source of one patient for their record, then show each source's state."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("nhs_number")
        parser.add_argument("--category", action="append", choices=ALL_CATEGORIES)
        parser.add_argument("--force", action="store_true", help="Fetch even what is fresh.")
        parser.add_argument(
            "--wait", type=float, default=30.0, help="Seconds to wait for the worker (0: don't)."
        )

    def handle(self, *args, nhs_number: str, category, force: bool, wait: float, **options):
        try:
            digits = normalise_nhs_number(nhs_number)
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from exc
        patient = Patient.objects.filter(nhs_number=digits).first()
        if patient is None:
            raise CommandError(f"No patient in the register has NHS number {nhs_number}.")
        patient = current_patient(patient)
        categories = parse_categories(category)
        asked = request_refresh(patient=patient, categories=categories, force=force)
        self.stdout.write(f"Asked {len(asked)} source record(s) for {len(categories)} categories.")
        deadline = time.monotonic() + wait
        snapshots = snapshots_for(patient=patient, categories=categories)
        while time.monotonic() < deadline and snapshots.filter(status=Snapshot.Status.PENDING):
            time.sleep(0.5)
        for snapshot in snapshots_for(patient=patient, categories=categories):
            state = state_of(snapshot).label
            if snapshot.fetched_at and state != SourceState.UP_TO_DATE:
                state += f" (data from {timezone.localtime(snapshot.fetched_at):%H:%M:%S})"
            if snapshot.reason:
                state += f": {snapshot.reason}"
            if snapshot.withheld_reason:
                state += f"; withheld: {snapshot.withheld_reason}"
            self.stdout.write(
                f"{snapshot.link.source.name:<50} {snapshot.category:<14} "
                f"{snapshot.item_count:>4} items  {state}"
            )
