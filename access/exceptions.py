"""Domain errors of access control, turned into pages and HTTP answers in one place."""


class AccessDenied(Exception):
    """The actor may not do or see this. Surfaces answer 404 where existence must not leak."""


class RelationshipError(Exception):
    """A care relationship cannot be recorded or ended as asked."""


class RelationshipAlreadyInPlace(RelationshipError):
    """The care relationship asked for is already in place: `existing`, not ended, has the same
    team or person, patient and kind, and dates that overlap those asked for."""

    def __init__(self, existing) -> None:
        ends = f" to {existing.ends_on:%-d %B %Y}" if existing.ends_on else ", with no end date"
        super().__init__(
            f"This relationship is already in place (from {existing.starts_on:%-d %B %Y}{ends})."
        )
        self.existing = existing


class MembershipError(Exception):
    """A membership of a team cannot be added, changed or ended as asked."""


class EmergencyAccessError(Exception):
    """An emergency access cannot be started or reviewed as asked (not a refusal of who asks)."""


class ReviewError(EmergencyAccessError):
    """A review of an emergency access cannot be recorded as asked; `field` says which of the
    form's answers is wrong ("decision" or "note"), for the form to show it there."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class ObjectionError(Exception):
    """A patient's objection cannot be recorded as asked."""


class ApiClientError(Exception):
    """A partner system cannot be registered as asked."""


class SignInRefused(Exception):
    """An identity provider vouched for someone this service will not sign in (too weak a
    sign-in for their role, no subject, switched off): `code` for logs, `message` for them."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
