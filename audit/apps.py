"""App configuration for the audit trail: registers users with django-auditlog, and its checks."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from auditlog.registry import auditlog
        from django.contrib.auth import get_user_model

        from audit import checks  # noqa: F401  (registers them)

        auditlog.register(
            get_user_model(), exclude_fields=["password", "last_login"], m2m_fields={"groups"}
        )
