"""A professional's own choices about how they appear: whether patients reading who has looked
at their record see them by job role only (where the deployment allows that choice)."""

from auditlog.context import set_actor
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from access.exceptions import AccessDenied
from access.models import StaffProfile


def set_shown_to_patients_by_role_only(*, user: AbstractBaseUser, by_role_only: bool) -> None:
    """The user's own choice, recorded in the change history as theirs."""
    if not settings.LCR_STAFF_MAY_BE_SHOWN_BY_ROLE:
        raise AccessDenied("this deployment shows professionals to patients by name")
    with set_actor(user):
        profile, _ = StaffProfile.objects.get_or_create(user=user)
        if profile.shown_to_patients_by_role_only != by_role_only:
            profile.shown_to_patients_by_role_only = by_role_only
            profile.save()
