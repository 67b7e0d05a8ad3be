"""App configuration for access control: registers its models with django-auditlog."""

from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access control"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from access import checks, models  # noqa: F401  (checks registers them)

        # A membership's policy is its role's, joined by role (not a change of its own).
        auditlog.register(models.Membership, exclude_fields=["policy"])
        # A provider's client secret is kept out of the change history (masked), not its change.
        auditlog.register(models.IdentityProvider, mask_fields=["client_secret"])
        # The patient's names a relationship carries are the database's copy, for the order of
        # "my patients" (migration 0012): not a change anyone made, and no patient data belongs
        # in the change history of relationships.
        auditlog.register(
            models.CareRelationship, exclude_fields=["patient_family_name", "patient_given_names"]
        )
        for model in (
            models.Team,
            models.BreakGlassAccess,
            models.Objection,
            models.RolePolicy,
            models.StaffProfile,
            models.RoleMapping,
            models.ClinicalSystem,
        ):
            auditlog.register(model)
