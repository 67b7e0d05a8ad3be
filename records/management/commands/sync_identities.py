"""`manage.py sync_identities`: read sources' Patient resources now, or queue it for the worker."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from records.identity_sync import sync_source_identities
from records.models import SourceSystem
from records.sources.errors import SourceUnavailable
from records.tasks import sync_identities


class Command(BaseCommand):
    help = "Link each source's patients by NHS number and queue the rest for review."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--source", action="append", help="ODS code of a source (repeatable; default: all)."
        )
        parser.add_argument(
            "--queue", action="store_true", help="Send the work to the Celery worker and return."
        )

    def handle(self, *args, source: list[str] | None, queue: bool, **options) -> None:
        sources = SourceSystem.objects.filter(enabled=True).order_by("name")
        if source:
            sources = SourceSystem.objects.filter(ods_code__in=source).order_by("name")
            missing = set(source) - set(sources.values_list("ods_code", flat=True))
            if missing:
                raise CommandError(f"No source with ODS code {', '.join(sorted(missing))}.")
        failed = 0
        for item in sources:
            if queue:
                sync_identities.delay(item.pk)
                self.stdout.write(f"{item.name}: queued")
                continue
            try:
                run = sync_source_identities(source_id=item.pk)
            except SourceUnavailable as exc:
                failed += 1
                self.stderr.write(f"{item.name}: unavailable: {exc.reason}")
                continue
            if run.error:
                failed += 1
                self.stderr.write(f"{item.name}: failed: {run.error}")
                continue
            self.stdout.write(
                f"{item.name}: {run.seen} seen, {run.linked} linked, "
                f"{run.already_linked} already linked, {run.queued} queued for review, "
                f"{run.rejected} rejected"
            )
        if failed:
            raise CommandError(f"{failed} source(s) could not be read.")
