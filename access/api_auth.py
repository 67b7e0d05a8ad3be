"""Who is asking through the API: OAuth2 clients bound to a team, their scopes and rates, and
the actor each call is made as. DRF's defaults (lcr/settings.py) name the classes here, so this
module must not import DRF's views.
"""

import string

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.scopes import SettingsScopes
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from access.models import ApiClient
from access.policy import Actor
from lcr.api_errors import ApiError

END_USER_HEADER = "X-End-User"
END_USER = OpenApiParameter(
    END_USER_HEADER,
    # What end_user_of accepts: ASCII from space to tilde, 200 characters at most.
    {"type": "string", "maxLength": 200, "pattern": "^[ -~]*$"},
    OpenApiParameter.HEADER,
    description="The partner's own user this call is made for, as the partner names them "
    "(recorded in the access event). Printable text, at most 200 characters.",
)
_PRINTABLE = set(string.printable) - set("\t\n\r\x0b\x0c")


class DenyAll(BasePermission):
    """The default: a view that names no permission refuses everyone."""

    def has_permission(self, request: Request, view) -> bool:
        return False


class ApiClientAuthentication(OAuth2Authentication):
    """A bearer token of a registered, active client; the call is made as its service user."""

    def authenticate(self, request: Request):
        result = super().authenticate(request)
        if result is None:
            return None
        token = result[1]
        client = (
            ApiClient.objects.select_related("team", "service_user", "application", "policy")
            .filter(application_id=token.application_id, active=True)
            .first()
        )
        if client is None or not client.service_user.is_active:
            raise AuthenticationFailed("This client is not registered or is switched off.")
        request.api_client = client
        return client.service_user, token


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


class ApiClientScopes(SettingsScopes):
    """A client's token may carry only the scopes its ApiClient holds (all of them by default)."""

    def get_available_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        client = ApiClient.objects.filter(application=application, active=True).first()
        known = self.get_all_scopes()
        return [scope for scope in (client.scopes if client else []) if scope in known]

    def get_default_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        return self.get_available_scopes(application, request)


def end_user_of(request: Request) -> str:
    """The partner's end user named in X-End-User; bad values are refused, not trimmed."""
    value = request.headers.get(END_USER_HEADER, "")
    if len(value) > 200 or not set(value) <= _PRINTABLE:
        raise ApiError(400, "invalid-end-user", f"{END_USER_HEADER}: printable, 200 at most.")
    return value.strip()


def actor_from_api_request(request: Request) -> Actor:
    """The actor a call is made as: the client's service user, in its team and role."""
    client: ApiClient = request.api_client
    return Actor(
        user=client.service_user,
        team=client.team,
        role=client.role,
        client_id=client.application.client_id,
        end_user=end_user_of(request),
        policy=client.policy,
    )
