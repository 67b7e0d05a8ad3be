"""`manage.py export_audit_fhir [--since DATE]`: access events as FHIR AuditEvents, one JSON a line.

For a partner's audit repository or a security team's tools (NDJSON on standard output).
"""

import datetime
import json

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit.fhir import audit_event
from audit.models import AccessEvent


class Command(BaseCommand):
    help = "Write access events as FHIR R4 AuditEvent resources, one JSON object a line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", help="Only events on or after this day (YYYY-MM-DD).")

    def handle(self, *args, since: str | None, **options) -> None:
        events = AccessEvent.objects.select_related("patient").order_by("occurred_at", "pk")
        if since:
            try:
                day = datetime.date.fromisoformat(since)
            except ValueError as exc:
                raise CommandError(
                    f"--since must be a date like 2026-11-25, not {since!r}"
                ) from exc
            start = timezone.make_aware(datetime.datetime.combine(day, datetime.time()))
            events = events.filter(occurred_at__gte=start)
        for event in events.iterator(2000):
            self.stdout.write(json.dumps(audit_event(event, event.patient.nhs_number)))
