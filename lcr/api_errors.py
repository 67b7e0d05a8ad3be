"""DRF's exception handler for every API view: the apps' own refusals in the API's words (a record
someone may not see is 404, like one that does not exist), then partner_api's for the rest."""

from rest_framework.response import Response

from access.exceptions import AccessDenied, RelationshipAlreadyInPlace, RelationshipError
from audit.exceptions import AuditUnavailable
from partner_api.responses import Classification, answer_error


def _classify_domain(exc: Exception) -> Classification | None:
    if isinstance(exc, AccessDenied):
        return 404, "not-found", "Not found.", None
    if isinstance(exc, AuditUnavailable):
        return 503, "audit-unavailable", "The look could not be recorded; nothing shown.", None
    if isinstance(exc, RelationshipAlreadyInPlace):
        return 409, "relationship-already-in-place", str(exc), None
    if isinstance(exc, RelationshipError):
        return 400, "relationship-refused", str(exc), None
    return None


def exception_handler(exc: Exception, context: dict) -> Response:
    return answer_error(exc, context, _classify_domain)
