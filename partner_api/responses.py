"""Every API error answered in one shape: a FHIR OperationOutcome on FHIR routes, problem JSON
(RFC 9457) elsewhere, always a stable code, never a stack trace; and the OpenAPI declarations of
those answers. The apps' own domain exceptions are classified on top, in lcr.api_errors.
"""

import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from drf_spectacular.types import OpenApiTypes
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import set_rollback

from partner_api.errors import ApiError
from partner_api.renderers import FHIR_JSON

logger = logging.getLogger(__name__)

ERROR_CODES = "https://shared-care-record.example/CodeSystem/api-error"
PROBLEM_TYPES = "https://shared-care-record.example/problems/"
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


Classification = tuple[int, str, str, Any]  # status, stable code, words for people, field errors


def fhir_responses(*errors: int) -> dict:
    """OpenAPI responses of a FHIR route: a resource, or an OperationOutcome for each error."""
    responses = {(200, media): OpenApiTypes.OBJECT for media in (FHIR_JSON, "application/json")}
    for status in errors:
        responses[(status, FHIR_JSON)] = OpenApiTypes.OBJECT
    return responses


def classify(exc: Exception) -> Classification:
    """Status, stable code, words for people, and field errors (if any) of the API's and the
    frameworks' exceptions; anything else is an internal error, told to nobody but the log."""
    if isinstance(exc, ApiError):
        return exc.status, exc.code, exc.detail, None
    if isinstance(exc, exceptions.ValidationError):
        return 400, "invalid", "The request is not valid.", exc.detail
    for types, status, code, words in _FRAMEWORK_ERRORS:
        if isinstance(exc, types):
            return status, code, words, None
    if isinstance(exc, exceptions.APIException):
        return exc.status_code, str(exc.default_code), "The request could not be served.", None
    return 500, "internal-error", "Something went wrong on our side.", None


# The frameworks' refusals: the first whose type matches answers (status, code, words).
_FRAMEWORK_ERRORS = (
    (Http404 | exceptions.NotFound, 404, "not-found", "Not found."),
    (
        exceptions.NotAuthenticated | exceptions.AuthenticationFailed,
        401,
        "unauthenticated",
        "A valid bearer token is needed.",
    ),
    (
        exceptions.PermissionDenied | DjangoPermissionDenied,
        403,
        "insufficient-scope",
        "This client may not do this.",
    ),
    (exceptions.Throttled, 429, "throttled", "Too many requests; wait before trying again."),
    (exceptions.ParseError, 400, "malformed-request", "The request body could not be read."),
    (exceptions.MethodNotAllowed, 405, "method-not-allowed", "This method is not allowed here."),
    (
        exceptions.NotAcceptable,
        406,
        "not-acceptable",
        "Ask for application/json or application/fhir+json.",
    ),
    (exceptions.UnsupportedMediaType, 415, "unsupported-media-type", "Send application/json."),
)


def answer_error(
    exc: Exception, context: dict, classify_domain: Callable[[Exception], Classification | None]
) -> Response:
    """The answer to an exception raised in an API view: every error answered, none with
    internals. `classify_domain` names the apps' own exceptions (None: not one of them)."""
    status, code, detail, errors = classify_domain(exc) or classify(exc)
    # The request's own id (set by lcr.request_observation, audit.request_context: the one its
    # access event and log lines carry); a fresh one only outside that middleware.
    request_id = getattr(context.get("request"), "lcr_request_id", None) or uuid.uuid4().hex
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


def error_response(request: HttpRequest, status: int, code: str, title: str) -> JsonResponse:
    """An error answered outside DRF's views in the API's own format: an OperationOutcome on
    FHIR routes, problem JSON elsewhere."""
    if request.path.startswith("/api/v1/fhir/"):
        body, content_type = operation_outcome(code, title), FHIR_JSON
    else:
        body = {"type": PROBLEM_TYPES + code, "title": title, "status": status, "code": code}
        content_type = PROBLEM_JSON
    response = JsonResponse(body, status=status, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
