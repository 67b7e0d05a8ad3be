"""App configuration: registers the identity register's models with django-auditlog, and the
integer lookups that keep ids beyond 64 bits from reaching a database (records.limits)."""

from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "records"
    verbose_name = "Identity register"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from records import limits, models  # noqa: F401 (limits registers lookups as it loads)

        for model in (
            models.Patient,
            models.SourceSystem,
            models.Link,
            models.UnmatchedRecord,
            models.MatchCandidate,
            models.PatientMerge,
            models.SupersededNhsNumber,
        ):
            auditlog.register(model)
