"""What every API view shares: errors in one place (FHIR OperationOutcome on FHIR routes, problem
JSON elsewhere, always a stable code, never a stack trace), FHIR JSON, and no-store responses.
"""

import logging
import uuid
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from access.exceptions import AccessDenied, RelationshipError
from audit.exceptions import AuditUnavailable
from lcr.api_errors import ApiError
from lcr.api_json import JsonRenderer

logger = logging.getLogger(__name__)

ERROR_CODES = "https://shared-care-record.example/CodeSystem/api-error"
PROBLEM_TYPES = "https://shared-care-record.example/problems/"
FHIR_JSON = "application/fhir+json"
PROBLEM_JSON = "application/problem+json"
# Our stable codes and the FHIR issue type each one is.
ISSUE_TYPES = {
    "invalid": "invalid",
    "malformed-request": "structure",
    "unauthenticated": "login",
    "forbidden": "forbidden",
    "insufficient-scope": "forbidden",
    "not-found": "not-found",
    "method-not-allowed": "not-supported",
    "not-acceptable": "not-supported",
    "unsupported-media-type": "not-supported",
    "throttled": "throttled",
    "relationship-refused": "business-rule",
    "audit-unavailable": "transient",
    "internal-error": "exception",
}


class Problem(serializers.Serializer):
    """A problem (RFC 9457) as the API's non-FHIR routes answer errors."""

    type = serializers.URLField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    code = serializers.CharField(help_text="Stable: software may act on it.")
    request_id = serializers.CharField(required=False)
    errors = serializers.DictField(required=False, help_text="Each field's problems.")


def problem_responses(ok_status: int, ok, *errors: int) -> dict:
    """OpenAPI responses of a JSON route: its answer, or a problem for each error status."""
    responses = {(ok_status, "application/json"): ok}
    for status in errors:
        responses[(status, PROBLEM_JSON)] = Problem
    return responses


class FhirJsonRenderer(JsonRenderer):
    media_type = FHIR_JSON
    format = "fhir"


class ApiView(APIView):
    """Base of every API view: patient data is never cached by anyone on the way."""

    fhir = False  # FHIR routes answer errors as OperationOutcome

    def get_renderers(self):
        if self.fhir:
            return [FhirJsonRenderer(), JsonRenderer()]
        return super().get_renderers()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        if isinstance(response, Response):
            response.add_post_render_callback(_let_go_of_data)
        return response


def _let_go_of_data(response: Response) -> None:
    """Once written, the answer's data goes. DRF keeps a response in reference cycles (its
    renderer context names it and its view), so its data (a record's 550 resources) outlived
    the request until the garbage collector's next full sweep, which then took 35 to 45 ms on
    one API read in eight."""
    response.data = None


FHIR_OPERATIONS = ("summary",)


def fhir_operation_paths(result: dict, generator, request, public: bool) -> dict:
    """drf-spectacular postprocessing hook: it reads the `$` of a FHIR operation (`$summary`) in a
    route as a regex anchor and drops it; put it back so the schema names the real address."""
    paths = {}
    for address, item in result.get("paths", {}).items():
        head, _, last = address.rpartition("/")
        if head.startswith("/api/v1/fhir/") and last in FHIR_OPERATIONS:
            address = f"{head}/${last}"
        paths[address] = item
    result["paths"] = paths
    return result


def _classify(exc: Exception) -> tuple[int, str, str, Any]:
    """Status, stable code, words for people, and field errors (if any) of an exception."""
    if isinstance(exc, ApiError):
        return exc.status, exc.code, exc.detail, None
    if isinstance(exc, AccessDenied | Http404 | exceptions.NotFound):
        # A record someone may not see looks exactly like one that does not exist.
        return 404, "not-found", "Not found.", None
    if isinstance(exc, AuditUnavailable):
        return 503, "audit-unavailable", "The look could not be recorded; nothing shown.", None
    if isinstance(exc, RelationshipError):
        return 400, "relationship-refused", str(exc), None
    if isinstance(exc, exceptions.ValidationError):
        return 400, "invalid", "The request is not valid.", exc.detail
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return 401, "unauthenticated", "A valid bearer token is needed.", None
    if isinstance(exc, exceptions.PermissionDenied | DjangoPermissionDenied):
        return 403, "insufficient-scope", "This client may not do this.", None
    if isinstance(exc, exceptions.Throttled):
        return 429, "throttled", "Too many requests; wait before trying again.", None
    if isinstance(exc, exceptions.ParseError):
        return 400, "malformed-request", "The request body could not be read.", None
    if isinstance(exc, exceptions.MethodNotAllowed):
        return 405, "method-not-allowed", "This method is not allowed here.", None
    if isinstance(exc, exceptions.NotAcceptable):
        return 406, "not-acceptable", "Ask for application/json or application/fhir+json.", None
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return 415, "unsupported-media-type", "Send application/json.", None
    if isinstance(exc, exceptions.APIException):
        return exc.status_code, str(exc.default_code), "The request could not be served.", None
    return 500, "internal-error", "Something went wrong on our side.", None


def exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's exception handler for every API view: every error answered, none with internals."""
    status, code, detail, errors = _classify(exc)
    request_id = uuid.uuid4().hex
    if status >= 500:
        logger.error("API error %s (request %s)", code, request_id, exc_info=exc)
    set_rollback()
    view = context.get("view")
    if getattr(view, "fhir", False):
        body = operation_outcome(code, detail, errors, request_id)
        content_type = FHIR_JSON
    else:
        body = {
            "type": PROBLEM_TYPES + code,
            "title": detail,
            "status": status,
            "code": code,
            "request_id": request_id,
        }
        if errors is not None:
            body["errors"] = errors
        content_type = PROBLEM_JSON
    headers = {"Cache-Control": "no-store"}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    if status == 401 and "WWW-Authenticate" not in headers:
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return Response(body, status=status, headers=headers, content_type=content_type)


def operation_outcome(code: str, detail: str, errors: Any = None, request_id: str = "") -> dict:
    """A FHIR R4 OperationOutcome for one error, with our code and, for bad input, each field."""
    issue_type = ISSUE_TYPES.get(code, "processing")
    issues = [
        {
            "severity": "error",
            "code": issue_type,
            "details": {"coding": [{"system": ERROR_CODES, "code": code}], "text": detail},
            **({"diagnostics": f"request id {request_id}"} if request_id else {}),
        }
    ]
    for where, messages in _field_errors(errors):
        issues.append(
            {
                "severity": "error",
                "code": "invalid",
                "details": {"coding": [{"system": ERROR_CODES, "code": "invalid"}]},
                "diagnostics": "; ".join(messages)[:500],
                "expression": [where],
            }
        )
    return {"resourceType": "OperationOutcome", "issue": issues}


def _field_errors(errors: Any, prefix: str = "") -> list[tuple[str, list[str]]]:
    if isinstance(errors, dict):
        found = []
        for key, value in errors.items():
            found += _field_errors(value, f"{prefix}.{key}" if prefix else str(key))
        return found
    if isinstance(errors, list) and errors and not isinstance(errors[0], dict | list):
        return [(prefix or "request", [str(message) for message in errors])]
    if isinstance(errors, list):
        found = []
        for index, value in enumerate(errors):
            found += _field_errors(value, f"{prefix}[{index}]")
        return found
    return [] if errors is None else [(prefix or "request", [str(errors)])]
