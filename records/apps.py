"""App configuration: registers the identity register's models with django-auditlog, and the
integer lookups that keep ids beyond 64 bits from reaching a database (records.limits)."""

from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "records"
    verbose_name = "Identity register"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from records import limits, models  # noqa: F401 (limits registers lookups as it loads)
        from records.confidentiality import RESTRICTED_DETAILS

        # A person's contact details may become restricted later, and the change history is
        # append-only: it says they changed, never what they were.
        hidden = {"mask_callable": "records.confidentiality.not_kept"}
        auditlog.register(models.Patient, mask_fields=list(RESTRICTED_DETAILS), **hidden)
        auditlog.register(models.UnmatchedRecord, mask_fields=["postcode"], **hidden)
        for model in (
            models.SourceSystem,
            models.Link,
            models.MatchCandidate,
            models.PatientMerge,
            models.PatientMergeRequest,
            models.SupersededNhsNumber,
        ):
            auditlog.register(model)
