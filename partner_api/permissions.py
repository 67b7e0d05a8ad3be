"""Who may call a route and how often: deny by default, the route's scope in the token and among
the client's, a rate per client, and the partner's own user named in X-End-User. DRF's defaults
(lcr/settings.py) name the classes here, so this module must not import DRF's views.

The authenticated client (`request.api_client`, set by access.api_auth) is read by its
attributes only (`scopes`, `rate`, `pk`): which model it is, is the access app's business.
"""

import string

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from partner_api.errors import ApiError

END_USER_HEADER = "X-End-User"
END_USER_MAX_LENGTH = 200
END_USER = OpenApiParameter(
    END_USER_HEADER,
    # What end_user_of accepts: ASCII from space to tilde, END_USER_MAX_LENGTH characters at most.
    {"type": "string", "maxLength": END_USER_MAX_LENGTH, "pattern": "^[ -~]*$"},
    OpenApiParameter.HEADER,
    description="The partner's own user this call is made for, as the partner names them "
    f"(recorded in the access event). Printable text, at most {END_USER_MAX_LENGTH} characters.",
)
_PRINTABLE = set(string.printable) - set("\t\n\r\x0b\x0c")


class DenyAll(BasePermission):
    """The default: a view that names no permission refuses everyone."""

    def has_permission(self, request: Request, view) -> bool:
        return False


class HasScope(BasePermission):
    """The view's `required_scope` is in the token and still among the client's scopes."""

    def has_permission(self, request: Request, view) -> bool:
        client = getattr(request, "api_client", None)
        scope = getattr(view, "required_scope", None)
        if client is None or scope is None or request.auth is None:
            return False
        return scope in request.auth.scope.split() and scope in client.scopes


class ClientRateThrottle(SimpleRateThrottle):
    """Requests per client (its own rate, or LCR_API_DEFAULT_RATE); over it: 429, Retry-After."""

    def __init__(self) -> None:  # the rate is the client's, known only once it is authenticated
        pass

    def allow_request(self, request: Request, view) -> bool:
        client = getattr(request, "api_client", None)
        if client is None:
            return True
        self.rate = client.rate or settings.LCR_API_DEFAULT_RATE
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view) -> str:
        return f"lcr:api-rate:{request.api_client.pk}"


def end_user_of(request: Request) -> str:
    """The partner's end user named in X-End-User; bad values are refused, not trimmed."""
    value = request.headers.get(END_USER_HEADER, "")
    if len(value) > END_USER_MAX_LENGTH or not set(value) <= _PRINTABLE:
        raise ApiError(
            400, "invalid-end-user", f"{END_USER_HEADER}: printable, {END_USER_MAX_LENGTH} at most."
        )
    return value.strip()
