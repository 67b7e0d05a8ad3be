"""Who may review identities and merge register entries, written once: the Django model
permissions the admin always used, held by staff (whose sign-in needs a second factor).

The portal's identity pages (care_record/identity_review.py, care_record/identity_merging.py) and
the header ask these; records.services asks `may_merge` of the second person of a merge.
"""

from django.contrib.auth.models import AbstractBaseUser

REVIEW_PERMISSIONS = ("records.change_unmatchedrecord", "records.change_matchcandidate")
MERGE_PERMISSION = "records.add_patientmerge"
UNMERGE_PERMISSION = "records.change_patientmerge"


def _staff(user: AbstractBaseUser | None) -> bool:
    return bool(user is not None and user.is_active and getattr(user, "is_staff", False))


def reviews_identities(user: AbstractBaseUser | None) -> bool:
    """Whether the user decides which source records are which register patients."""
    return _staff(user) and user.has_perms(REVIEW_PERMISSIONS)


def may_merge(user: AbstractBaseUser | None) -> bool:
    """Whether the user may merge two register entries (or approve another's request to)."""
    return _staff(user) and user.has_perm(MERGE_PERMISSION)


def may_unmerge(user: AbstractBaseUser | None) -> bool:
    """Whether the user may undo a merge."""
    return _staff(user) and user.has_perm(UNMERGE_PERMISSION)
