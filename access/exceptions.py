"""Domain errors of access control, turned into pages and HTTP answers in one place."""


class AccessDenied(Exception):
    """The actor may not do or see this. Surfaces answer 404 where existence must not leak."""


class RelationshipError(Exception):
    """A care relationship (or objection) cannot be recorded or ended as asked."""
