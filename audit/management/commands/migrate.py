"""`manage.py migrate`, as the owner of the tables: Django's own, connected with
MIGRATION_DATABASE_URL, then granting the application's role what it needs on what was made
(audit/privileges.py). Without MIGRATION_DATABASE_URL it is Django's migrate unchanged."""

from django.core.management.commands import migrate

from audit.privileges import as_owner, grant_application


class Command(migrate.Command):
    def handle(self, *args, **options) -> None:
        with as_owner(options["database"]):
            super().handle(*args, **options)
            grant_application(options["database"])
