"""App configuration for access control: registers its models with django-auditlog."""

from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access control"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from access import models

        for model in (
            models.Team,
            models.Membership,
            models.CareRelationship,
            models.BreakGlassAccess,
            models.Objection,
            models.RolePolicy,
            models.StaffProfile,
        ):
            auditlog.register(model)
