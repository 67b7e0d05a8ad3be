"""Domain errors of the audit trail."""


class AuditUnavailable(Exception):
    """The access event could not be written, so nothing may be shown (fail closed)."""


class QuestionError(Exception):
    """A patient's question, or its answer, cannot be taken as it is: the message says why."""
