"""What can go wrong when asking a source system, in the domain's words."""


class SourceError(Exception):
    """A source did not give a usable answer. `reason` is short and safe to show to a user."""

    def __init__(self, reason: str, *, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class SourceUnavailable(SourceError):
    """The source could not be reached or refused to answer now (timeout, 5xx, 429, refused)."""

    def __init__(self, reason: str, *, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(reason, detail=detail)
        self.retry_after = retry_after


class MalformedResponse(SourceError):
    """The source answered, but not with valid FHIR (broken JSON, wrong shape, bad data types)."""


class LimitExceeded(MalformedResponse):
    """The source sent more than a limit allows (size, nesting, length of text) or characters no
    record may hold: the whole answer is refused, none of it used."""


class RecordRefused(SourceError):
    """The source refuses this patient's record itself (not registered there, no record, the
    patient dissented, access denied): what it sent before is no longer shown either."""


class InvalidResource(SourceError):
    """One resource in an otherwise good answer is unusable; the rest may still be read."""


class WrongPatientInResponse(SourceError):
    """The source sent a resource about someone other than the patient asked for.
    `resource_ids` ("Type/id") name them, for the log and the source's administrators."""

    def __init__(self, reason: str, *, detail: str = "", resource_ids: list[str] | None = None):
        super().__init__(reason, detail=detail)
        self.resource_ids = resource_ids or []
