"""App configuration for access control: registers its models with django-auditlog."""

from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access control"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from access import models

        # A membership's policy is its role's, joined by role (not a change of its own).
        auditlog.register(models.Membership, exclude_fields=["policy"])
        for model in (
            models.Team,
            models.CareRelationship,
            models.BreakGlassAccess,
            models.Objection,
            models.RolePolicy,
            models.StaffProfile,
        ):
            auditlog.register(model)
