"""Domain errors of access control, turned into pages and HTTP answers in one place."""


class AccessDenied(Exception):
    """The actor may not do or see this. Surfaces answer 404 where existence must not leak."""


class RelationshipError(Exception):
    """A care relationship (or objection) cannot be recorded or ended as asked."""


class MembershipError(Exception):
    """A membership of a team cannot be added, changed or ended as asked."""
