"""App configuration: registers the identity register's models with django-auditlog."""

from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "records"
    verbose_name = "Identity register"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from records import models

        for model in (
            models.Patient,
            models.SourceSystem,
            models.Link,
            models.UnmatchedRecord,
            models.MatchCandidate,
            models.PatientMerge,
        ):
            auditlog.register(model)
