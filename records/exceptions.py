"""Domain errors of the identity register, raised by services and shown in one place."""


class IdentityError(Exception):
    """A request to change the register that cannot be carried out as asked."""


class LinkConflict(IdentityError):
    """The source's local id is already linked to someone else; a person must look first."""


class MergeError(IdentityError):
    """Two records cannot be merged, or a merge cannot be undone, as asked."""


class ReviewError(IdentityError):
    """A candidate match was already decided, or its record no longer waits for review."""


class ReasonMissing(ReviewError, MergeError):
    """A reviewer's decision, or a merge, given without the reason every one of them needs."""
