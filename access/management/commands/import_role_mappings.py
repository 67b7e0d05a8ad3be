"""`manage.py import_role_mappings roles.csv`: the deployment's role mappings from a CSV file
(access.services.role_mappings); run again with the same file, it changes nothing."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from access.services.role_mappings import RoleMappingImportError, import_role_mappings
from records.services import system_user


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("csv_file", type=Path)

    def handle(self, *args, csv_file: Path, **options) -> None:
        try:
            text = csv_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {csv_file}: {error}") from error
        actor = system_user("system.role-import", "Role mapping import")
        try:
            result = import_role_mappings(text=text, actor=actor)
        except RoleMappingImportError as error:
            raise CommandError("Nothing imported:\n" + "\n".join(error.problems)) from error
        self.stdout.write(
            f"Role mappings: {result.created} new, {result.updated} changed, "
            f"{result.unchanged} unchanged."
        )
