"""Check each source system's CapabilityStatement: the FHIR version it declares, against the
version its interface speaks. Prints one line a source; exits 1 if any is wrong."""

from django.core.management.base import BaseCommand, CommandError

from records.models import SourceSystem
from records.source_checks import check_source


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("ods_codes", nargs="*", help="only these sources (ODS codes)")

    def handle(self, *args, ods_codes: list[str], **options) -> None:
        sources = SourceSystem.objects.order_by("name")
        if ods_codes:
            sources = sources.filter(ods_code__in=ods_codes)
        failed = 0
        for source in sources:
            problem = check_source(source=source)
            version = source.declared_fhir_version or "no version"
            label = source.get_interface_display()
            if problem:
                failed += 1
                self.stdout.write(f"{source}: {label}, FHIR {version}: {problem}")
            else:
                self.stdout.write(f"{source}: {label}, FHIR {version}: fine")
        if failed:
            raise CommandError(f"{failed} source(s) cannot be read as configured")
