"""Domain errors of the audit trail."""


class AuditUnavailable(Exception):
    """The access event could not be written, so nothing may be shown (fail closed)."""
